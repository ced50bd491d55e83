"""SOAP-level behaviour: schema validation, unknown operations, version negotiation, misc operations."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request

import pytest
from exchangelib import UTC, Account, Build, Configuration, Credentials, FailFast, Version
from exchangelib.errors import ErrorNameResolutionNoResults, ErrorSchemaValidation
from lxml import etree

from groupmigrate.testing import EWSTestServer

from .conftest import ALICE, BOB, PASSWORD, make_account, mime_message

ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
    '<t:RequestServerVersion Version="{version}"/></s:Header><s:Body>{body}</s:Body></s:Envelope>'
)
NS = {"s": "http://schemas.xmlsoap.org/soap/envelope/", "e": "http://schemas.microsoft.com/exchange/services/2006/errors",
      "t": "http://schemas.microsoft.com/exchange/services/2006/types",
      "m": "http://schemas.microsoft.com/exchange/services/2006/messages"}


def post(server: EWSTestServer, body: str, version: str = "Exchange2016") -> tuple[int, etree._Element]:
    data = ENVELOPE.format(version=version, body=body).encode()
    auth = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(server.url, data=data, headers={"Authorization": f"Basic {auth}",
                                                                 "Content-Type": "text/xml; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, etree.fromstring(r.read())
    except urllib.error.HTTPError as e:
        return e.code, etree.fromstring(e.read())


def fault_code(root: etree._Element) -> str:
    return root.findtext(".//s:Fault/detail/e:ResponseCode", namespaces=NS) or ""


def test_schema_invalid_request_gets_schema_validation_fault(server: EWSTestServer) -> None:
    status, root = post(server, "<m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds>"
                                "</m:GetFolder>")  # FolderShape missing
    assert status == 500
    assert root.findtext(".//s:Fault/faultcode", namespaces=NS) == "a:ErrorSchemaValidation"
    assert fault_code(root) == "ErrorSchemaValidation"
    assert root.findtext(".//t:MessageXml/t:LineNumber", namespaces=NS)
    status, root = post(server, "<m:FindItem Traversal=\"Sideways\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
                                "</m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                                "</m:ParentFolderIds></m:FindItem>")
    assert status == 500 and fault_code(root) == "ErrorSchemaValidation"
    status, root = post(server, "<m:GetFolder><oops")  # not even XML
    assert status == 500 and fault_code(root) == "ErrorSchemaValidation"


def test_exchangelib_sees_schema_validation_as_its_error(server: EWSTestServer) -> None:
    from exchangelib.services import GetFolder

    account = make_account(server)
    svc = GetFolder(account=account)
    payload = etree.fromstring(f'<m:GetFolder xmlns:m="{NS["m"]}"><m:Bogus/></m:GetFolder>')
    with pytest.raises(ErrorSchemaValidation):
        list(svc._get_elements(payload=payload))


def test_unknown_operation_gets_invalid_request_fault(server: EWSTestServer) -> None:
    status, root = post(server, "<m:MakeCoffee><m:Sugar>2</m:Sugar></m:MakeCoffee>")
    assert status == 500
    assert root.findtext(".//s:Fault/faultcode", namespaces=NS) == "a:ErrorInvalidRequest"
    assert root.findtext(".//s:Fault/faultstring", namespaces=NS) == "The request is invalid."


def test_every_response_carries_server_version_info(server: EWSTestServer) -> None:
    status, root = post(server, '<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>'
                                '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId '
                                'Id="voicemail"/></m:FolderIds></m:GetFolder>')
    assert status == 200
    info = root.find(".//s:Header/t:ServerVersionInfo", namespaces=NS)
    assert info is not None and info.get("MajorVersion") == "15" and info.get("Version") == "Exchange2016"
    messages = root.findall(".//m:GetFolderResponseMessage", namespaces=NS)
    assert [m.get("ResponseClass") for m in messages] == ["Success", "Error"]
    assert messages[1].findtext("m:ResponseCode", namespaces=NS) == "ErrorFolderNotFound"


def test_workmail_version_negotiation_pinned_and_guessed(ews_server_factory) -> None:  # type: ignore[no-untyped-def]
    wm = ews_server_factory(profile="workmail")
    wm.add_mailbox(ALICE, password=PASSWORD)
    status, root = post(wm, '<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
                            '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>')
    assert status == 500 and fault_code(root) == "ErrorInvalidServerVersion"
    guessed = make_account(wm)
    assert guessed.version.api_version == "Exchange2010_SP2"
    assert guessed.inbox.total_count == 0
    pinned_cfg = Configuration(service_endpoint=wm.url, credentials=Credentials(ALICE, PASSWORD), auth_type="basic",
                               version=Version(build=Build(14, 3), api_version="Exchange2010_SP2"),
                               retry_policy=FailFast())
    pinned = Account(ALICE, config=pinned_cfg, autodiscover=False, default_timezone=UTC)
    before = len(wm.operations)
    assert pinned.inbox.total_count == 0
    assert "ConvertId" not in {op.operation for op in wm.operations[before:]}  # no probing


def test_resolve_names(server: EWSTestServer) -> None:
    server.add_mailbox(BOB, display_name="Bob Builder")
    dn = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc-carol"
    server.add_resolvable(dn, "carol@contoso.com")
    protocol = make_account(server).protocol
    assert protocol.version  # exchangelib needs the version before protocol-level calls
    [carol] = protocol.resolve_names([dn])
    assert carol.email_address == "carol@contoso.com"
    imceaex = ("IMCEAEX-_o=ExchangeLabs_ou=Exchange+20Administrative+20Group+20+28FYDIBOHF23SPDLT+29"
               "_cn=Recipients_cn=abc-carol@contoso.com")
    assert protocol.resolve_names([imceaex])[0].email_address == "carol@contoso.com"
    assert protocol.resolve_names(["Bob Builder"])[0].email_address == BOB
    [missing] = protocol.resolve_names(["/o=Elsewhere/cn=Recipients/cn=nobody"])
    assert isinstance(missing, ErrorNameResolutionNoResults)


def test_server_time_zones(server: EWSTestServer) -> None:
    protocol = make_account(server).protocol
    assert protocol.version
    zones = {z.id: z for z in protocol.get_timezones(return_full_timezone_data=True)}
    assert {"UTC", "W. Europe Standard Time", "Eastern Standard Time", "Pacific Standard Time"} <= set(zones)
    berlin = zones["W. Europe Standard Time"]
    assert {p.name for p in berlin.periods} == {"Standard", "Daylight"}


def test_export_and_upload_only_on_exchange(server: EWSTestServer, ews_server_factory) -> None:  # type: ignore[no-untyped-def]
    server.seed_message(ALICE, ("Inbox",), mime_message("exported"))
    account = make_account(server)
    [data] = account.export(list(account.inbox.all()))
    [(new_id, _)] = account.upload([(account.sent, data)])
    [copy] = list(account.sent.all())
    assert copy.id == new_id and copy.subject == "exported" and copy.mime_content == mime_message("exported")
    wm = ews_server_factory(profile="workmail")
    wm.add_mailbox(ALICE, password=PASSWORD)
    status, root = post(wm, '<m:ExportItems><m:ItemIds><t:ItemId Id="AAAA"/></m:ItemIds></m:ExportItems>',
                        version="Exchange2010_SP2")
    assert status == 500 and fault_code(root) == "ErrorInvalidRequest"


def test_item_shapes(server: EWSTestServer) -> None:
    item_id = server.seed_message(ALICE, ("Inbox",), mime_message("shaped"))

    def get(shape: str) -> etree._Element:
        status, root = post(server, f'<m:GetItem><m:ItemShape>{shape}</m:ItemShape><m:ItemIds>'
                                    f'<t:ItemId Id="{item_id}"/></m:ItemIds></m:GetItem>')
        assert status == 200
        return root.find(".//m:Items/t:Message", namespaces=NS)

    id_only = get("<t:BaseShape>IdOnly</t:BaseShape>")
    assert [etree.QName(c).localname for c in id_only] == ["ItemId"]
    default = get("<t:BaseShape>Default</t:BaseShape>")
    names = [etree.QName(c).localname for c in default]
    assert "Subject" in names and "MimeContent" not in names and "DateTimeReceived" in names
    everything = get("<t:BaseShape>AllProperties</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent>")
    mime = everything.find("t:MimeContent", namespaces=NS)
    assert mime.get("CharacterSet") == "UTF-8" and base64.b64decode(mime.text) == mime_message("shaped")
    extra = get('<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Size"/>'
                '<t:FieldURI FieldURI="message:IsRead"/><t:ExtendedFieldURI PropertyTag="0x0E07" '
                'PropertyType="Integer"/></t:AdditionalProperties>')
    assert [etree.QName(c).localname for c in extra] == ["ItemId", "Size", "ExtendedProperty", "IsRead"]
    assert extra.findtext("t:IsRead", namespaces=NS) == "false"


def test_hidden_folders_are_marked(server: EWSTestServer) -> None:
    status, root = post(server, '<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>Default</t:BaseShape>'
                                '<t:AdditionalProperties><t:ExtendedFieldURI PropertyTag="0x10F4" '
                                'PropertyType="Boolean"/></t:AdditionalProperties></m:FolderShape><m:ParentFolderIds>'
                                '<t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderIds></m:FindFolder>')
    assert status == 200
    hidden = {f.findtext("t:DisplayName", namespaces=NS) for f in root.iterfind(".//t:Folders/*", namespaces=NS)
              if f.findtext("t:ExtendedProperty/t:Value", namespaces=NS) == "true"}
    assert hidden == {"Recipient Cache", "Conversation Action Settings"}


def test_schema_compilation_that_loses_the_xml_namespace_import_is_tried_again(monkeypatch):
    """libxml2 rarely fails to resolve xml:lang while other threads parse; a retry compiles it."""
    from lxml import etree

    from groupmigrate.testing.ews import schema

    real = schema._compile
    calls = []

    def flaky(extra):
        calls.append(extra)
        if len(calls) == 1:
            raise etree.XMLSchemaParseError("The QName value '{http://www.w3.org/XML/1998/namespace}lang' does not resolve")
        return real(extra)

    monkeypatch.setattr(schema, "_compile", flaky)
    built = schema._build(())
    assert len(calls) == 2
    assert built.validate(etree.fromstring(
        b'<m:GetFolder xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"'
        b' xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        b'<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>'
        b'<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>'))
