"""What the HTML report says and how it looks: words for statuses, outcomes and log kinds,
number and time formatting, and the page's inline CSS and JavaScript (no external resource)."""

from __future__ import annotations

import datetime as dt
from html import escape

__all__ = [
    "CSS", "JS", "KINDS", "OUTCOME_SHORT", "OUTCOME_WORDS", "STATUS_WORDS", "e", "fmt_bytes", "fmt_duration", "fmt_int", "fmt_rate",
    "fmt_time", "kind_order", "kind_words",
]  # fmt: skip


def e(value: object) -> str:
    """``value`` as HTML text or attribute value (quotes escaped too); ``None`` is empty."""
    return escape("" if value is None else str(value), quote=True)


#: account and run statuses, as a person reads them
STATUS_WORDS = {
    "completed": "Completed",
    "completed_with_errors": "Completed with errors",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "interrupted": "Interrupted (run again to resume)",
    "running": "Running",
}

#: report outcomes: (title, what it means)
OUTCOME_WORDS = {
    "migrated": ("Migrated", "copied by this run"),
    "duplicate": ("Already there", "on the destination already; not copied again"),
    "skipped": ("Skipped", "not copied on purpose, with a reason"),
    "failed": ("Failed", "not copied; the next run tries again"),
    "ambiguous": ("Outcome unknown", "sent, but the answer was lost"),
    "source": ("In the source", "items the source holds"),
    "destination": ("On the destination", "items the destination holds"),
    "present": ("Already there", "on the destination before, not created by this migration"),
    "missing": ("Missing", "not on the destination; the next run copies them"),
    "extra": ("Extra", "on the destination, no source item accounts for them"),
}

#: the short line under each outcome's total
OUTCOME_SHORT = {
    "migrated": "copied by this run",
    "duplicate": "not copied again",
    "skipped": "on purpose, with a reason",
    "failed": "the next run retries",
    "ambiguous": "answer lost; not sent again",
}

#: log kinds, most important first: (title, what it means, a problem to look at)
KINDS: dict[str, tuple[str, str, bool]] = {
    "error": ("Account error", "the account could not be migrated", True),
    "failed": ("Failed", "not copied; the next run tries again", True),
    "ambiguous": ("Outcome unknown", "sent, but the answer was lost; not sent again", True),
    "missing": ("Missing on the destination", "the next run copies them", True),
    "duplicated": ("Copied more than once", "the destination holds more than one copy", True),
    "extra": ("Extra on the destination", "no source item accounts for them", True),
    "skipped": ("Skipped", "not copied on purpose", False),
    "changed": ("Changed to fit the destination", "copied with a change", False),
    "dropped": ("Copied without some values", "values the destination cannot hold were left out", False),
    "repaired": ("Copied again", "their copy was gone from the destination", False),
    "recovered": ("Found from an earlier run", "created before; not created again", False),
    "duplicate": ("Already on the destination", "not copied again", False),
    "notice": ("Notes", "about the account as a whole", False),
}


def kind_words(kind: str) -> tuple[str, str, bool]:
    return KINDS.get(kind, (kind.replace("_", " ").capitalize(), "", False))


def kind_order(kind: str) -> tuple[int, str]:
    keys = list(KINDS)
    return (keys.index(kind) if kind in keys else len(keys), kind)


def fmt_int(n: int) -> str:
    return f"{n:,}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_rate(n: float, seconds: float | None, unit: str = "items") -> str:
    if not seconds or seconds <= 0 or not n:
        return "–"
    rate = n / seconds
    if unit == "bytes":
        return f"{fmt_bytes(int(rate))}/s"
    return f"{rate:,.1f} {unit}/s" if rate < 10 else f"{rate:,.0f} {unit}/s"


def fmt_time(value: dt.datetime | None) -> str:
    if value is None:
        return "–"
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


CSS = """
.gmr{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--bg:#fff;--card:#f5f7fa;
--migrated:#2e7d32;--duplicate:#7b8ba0;--present:#7b8ba0;--skipped:#d89b00;--failed:#c62828;--ambiguous:#7b3fa0;
--missing:#c62828;--extra:#e0661a;--duplicated:#ad1457;--source:#3f5670;--destination:#5c7390;--changed:#1f6fb2;
--notice:#5b6475;--error:#c62828;--recovered:#7b8ba0;--repaired:#1f6fb2;--dropped:#1f6fb2;
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);
max-width:1240px;margin:0 auto;padding:14px 20px 40px;box-sizing:border-box}
.gmr *,.gmr *::before,.gmr *::after{box-sizing:inherit}
.gmr h1{font-size:1.45em;margin:0 0 2px;line-height:1.25}
.gmr h2{font-size:1.15em;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.gmr h3{font-size:1.05em;margin:0 0 6px;overflow-wrap:anywhere}
.gmr .meta{color:var(--muted);margin:0 0 10px;font-size:.9em;overflow-wrap:anywhere}
.gmr code{font-size:.92em;overflow-wrap:anywhere}
.gmr .head{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:baseline}
.gmr .badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:.82em;font-weight:600;white-space:nowrap;
background:#e8ebf0;color:var(--fg)}
.gmr .st-completed{background:#e3f1e4;color:#1c5e20}.gmr .st-completed_with_errors{background:#fdecea;color:#9a1c1c}
.gmr .st-failed{background:#c62828;color:#fff}.gmr .st-interrupted,.gmr .st-cancelled{background:#fff2cc;color:#6b4e00}
.gmr .st-running{background:#e3eefa;color:#1f4f80}
.gmr .totals{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:12px 0 6px}
.gmr .card{background:var(--card);border-radius:8px;padding:9px 12px;border-top:4px solid var(--c,#b8c0cc);min-width:0}
.gmr .card .t{font-size:.8em;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.gmr .card .v{font-size:1.55em;font-weight:650;line-height:1.2;font-variant-numeric:tabular-nums}
.gmr .card .s{font-size:.82em;color:var(--muted);overflow-wrap:anywhere}
.gmr .card.zero .v{color:#9aa3b1}
.gmr .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:10px 28px}
.gmr figure{margin:0;min-width:0}.gmr figcaption{font-weight:600;margin:10px 0 6px}
.gmr .note{color:var(--muted);font-size:.82em;margin:4px 0 0}
.gmr .bars{display:grid;grid-template-columns:max-content minmax(60px,1fr) max-content;gap:5px 10px;align-items:center}
.gmr .bars svg{width:100%;height:14px;display:block}
.gmr .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.gmr svg .o-migrated{fill:var(--migrated)}.gmr svg .o-duplicate,.gmr svg .o-present{fill:var(--duplicate)}
.gmr svg .o-skipped{fill:var(--skipped)}.gmr svg .o-failed,.gmr svg .o-missing{fill:var(--failed)}
.gmr svg .o-ambiguous{fill:var(--ambiguous)}.gmr svg .o-extra{fill:var(--extra)}.gmr svg .o-duplicated{fill:var(--duplicated)}
.gmr svg .o-source{fill:var(--source)}.gmr svg .o-destination{fill:var(--destination)}.gmr svg .track{fill:#eceff3}
.gmr .tl-row{margin:0 0 6px}.gmr .tl-label{font-size:.85em;overflow-wrap:anywhere}
.gmr .tl-row svg{width:100%;height:16px;display:block}.gmr .tl-axis{display:flex;justify-content:space-between;font-size:.78em;color:var(--muted)}
.gmr svg .span{fill:#cfe3d0}.gmr svg .span.st-completed_with_errors{fill:#f6d4d1}.gmr svg .span.st-failed{fill:#e8a7a7}
.gmr svg line{stroke-width:2px;vector-effect:non-scaling-stroke}
.gmr svg .k-failed,.gmr svg .k-error,.gmr svg .k-missing{stroke:var(--failed)}.gmr svg .k-ambiguous{stroke:var(--ambiguous)}
.gmr svg .k-skipped{stroke:var(--skipped)}.gmr svg .k-duplicate,.gmr svg .k-recovered{stroke:var(--duplicate)}
.gmr svg .k-changed,.gmr svg .k-dropped,.gmr svg .k-repaired,.gmr svg .k-notice{stroke:var(--changed)}
.gmr .legend{display:flex;flex-wrap:wrap;gap:2px 12px;font-size:.78em;color:var(--muted);margin-top:4px}
.gmr .sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:4px;vertical-align:-1px;background:var(--c)}
.gmr .controls{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:0 0 8px}
.gmr input[type=search],.gmr select{font:inherit;padding:4px 8px;border:1px solid #b8c0cc;border-radius:6px;max-width:100%}
.gmr input[type=search]{width:22em}
.gmr .scroll{overflow-x:auto;max-width:100%}
.gmr table{border-collapse:collapse;width:100%;font-size:.9em}
.gmr th,.gmr td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;vertical-align:top}
.gmr th:first-child,.gmr td:first-child{text-align:left}
.gmr td{overflow-wrap:anywhere}.gmr td.acc{min-width:14em}
.gmr table.accounts td:not(.acc){white-space:nowrap}.gmr table.accounts th:nth-child(2),.gmr table.accounts td:nth-child(2){text-align:left}
.gmr table.types{width:auto;min-width:min(100%,36em)}
.gmr th{font-size:.85em;color:var(--muted);font-weight:600;white-space:nowrap;background:var(--bg)}
.gmr th button{all:unset;cursor:pointer}.gmr th button:focus-visible{outline:2px solid #1f6fb2}
.gmr th[aria-sort=ascending] button::after{content:" \\25B2"}.gmr th[aria-sort=descending] button::after{content:" \\25BC"}
.gmr tbody tr:hover{background:#f7f9fc}.gmr td .sub{display:block;color:var(--muted);font-size:.85em}
.gmr td.bad{color:var(--failed);font-weight:600}.gmr td.zero{color:#a3abb8}
.gmr td .mini{display:block;width:100%;max-width:9em;margin-left:auto;height:6px;margin-top:3px}
.gmr .acct{border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:0 0 14px;min-width:0}
.gmr .err{color:var(--failed);font-weight:600;overflow-wrap:anywhere}
.gmr details{margin:4px 0}.gmr summary{cursor:pointer;padding:4px 2px;overflow-wrap:anywhere}
.gmr details.group{border-left:4px solid var(--c,#b8c0cc);padding-left:10px}
.gmr details.group>summary{font-weight:600}.gmr .n{display:inline-block;min-width:1.8em;padding:0 6px;margin-left:6px;
border-radius:9px;background:#e8ebf0;font-size:.85em;text-align:center;font-variant-numeric:tabular-nums}
.gmr .hint{font-weight:400;color:var(--muted);font-size:.88em}
.gmr details.reason{margin-left:4px}.gmr details.reason>summary{font-weight:400}
.gmr ul.items{list-style:none;margin:2px 0 6px;padding:0 0 0 12px}
.gmr ul.items li{padding:2px 0;border-bottom:1px dotted var(--line);overflow-wrap:anywhere}
.gmr .where,.gmr time{color:var(--muted);font-size:.85em}.gmr .why{display:block;font-size:.9em}
.gmr [hidden]{display:none!important}
@media (max-width:640px){
.gmr{padding:10px 12px 30px;font-size:14px}
.gmr .totals{grid-template-columns:repeat(2,minmax(0,1fr))}
.gmr input[type=search]{width:100%}
.gmr table.cards,.gmr table.cards tbody,.gmr table.cards tr,.gmr table.cards td{display:block}
.gmr table.cards thead tr{display:flex;flex-wrap:wrap;gap:4px;align-items:center;margin:0 0 8px}
.gmr table.reasons thead{display:none}
.gmr table.accounts thead tr::before{content:"Sort by";color:var(--muted);font-size:.85em;margin-right:4px}
.gmr table.cards th{border:1px solid var(--line);border-radius:12px;padding:2px 8px}
.gmr table.cards tbody tr{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);column-gap:18px;
border:1px solid var(--line);border-radius:8px;margin:0 0 8px;padding:4px 8px}
.gmr table.cards td{display:flex;justify-content:space-between;gap:8px;border:0;padding:2px 0;text-align:right;min-width:0}
.gmr table.cards td::before{content:attr(data-label);color:var(--muted);text-align:left}
.gmr table.cards td.acc,.gmr table.reasons td:nth-child(-n+2){display:block;grid-column:1/-1;text-align:left;min-width:0}
.gmr table.cards td.acc::before,.gmr table.reasons td:nth-child(-n+2)::before{content:none}.gmr table.reasons td:first-child{font-weight:600}
.gmr table.cards td.acc a{font-weight:600}.gmr table.accounts.cards td:nth-child(2){grid-column:1/-1}
.gmr table.cards td .mini{display:none}
}
@media print{
.gmr{max-width:none;padding:0;font-size:11pt}.gmr .controls,.gmr .noprint{display:none!important}
.gmr details::details-content{content-visibility:visible;display:block}
.gmr .acct,.gmr figure,.gmr .card{break-inside:avoid}.gmr .scroll{overflow:visible}
.gmr a{color:inherit;text-decoration:none}
}
"""

JS = r"""
(function(){
var root=document.querySelector('.gmr');if(!root)return;
var q=root.querySelector('#account-filter'),shown=root.querySelector('#account-count');
var table=root.querySelector('table.accounts');
function filterAccounts(){var t=(q?q.value:'').trim().toLowerCase(),n=0,rows=table?table.tBodies[0].rows:[];
for(var i=0;i<rows.length;i++){var hit=!t||rows[i].dataset.search.indexOf(t)>=0;rows[i].hidden=!hit;if(hit)n++;}
root.querySelectorAll('section.acct').forEach(function(s){s.hidden=!!t&&s.dataset.search.indexOf(t)<0;});
if(shown)shown.textContent=t?n+' of '+rows.length+' accounts':rows.length+' accounts';}
if(q){q.addEventListener('input',filterAccounts);filterAccounts();}
function sortBy(th){var idx=Array.prototype.indexOf.call(th.parentNode.children,th),tb=table.tBodies[0];
var asc=th.getAttribute('aria-sort')!=='ascending',num=th.dataset.type==='num';
th.parentNode.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var rows=Array.prototype.slice.call(tb.rows);rows.sort(function(a,b){
var x=a.cells[idx].dataset.v,y=b.cells[idx].dataset.v,c=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);
return asc?c:-c;});rows.forEach(function(r){tb.appendChild(r);});}
if(table)table.querySelectorAll('th button').forEach(function(b){b.addEventListener('click',function(){sortBy(b.parentNode);});});
window.filterLog=function(kind){root.querySelectorAll('details.group').forEach(function(d){
d.hidden=!!kind&&d.dataset.kind!==kind;});};
var k=root.querySelector('#kind-filter');if(k)k.addEventListener('change',function(){window.filterLog(k.value);});
window.addEventListener('beforeprint',function(){if(q){q.value='';filterAccounts();}window.filterLog('');
root.querySelectorAll('details').forEach(function(d){d.open=true;});});
})();
"""
