"""A self-signed certificate and its key, for tests of certificate credentials (an app that
signs its token requests with a certificate, as Microsoft Entra ID accepts) and of TLS servers
on loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

__all__ = ["self_signed_pem"]


def self_signed_pem(common_name: str = "groupmigrate", *, hosts: Sequence[str] = ()) -> tuple[str, str]:
    """``(certificate PEM, unencrypted PKCS#8 private key PEM)``, RSA 2048, valid for a year.

    ``hosts`` (IP addresses or DNS names, e.g. ``("127.0.0.1", "localhost")``) makes it a
    server certificate for them: a subjectAltName with each, and the extensions a strict
    verifier expects (key usage, server-auth extended key usage, key identifiers), so that a
    client trusting this very certificate (its PEM as the CA file) accepts the server.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
    )  # fmt: skip
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = (
            builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=True,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        )  # fmt: skip
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()
