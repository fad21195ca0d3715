"""The throwaway CA issues certificates that verify against it, with the right identities."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testenv.pki import CertificateAuthority, service_account_keys


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_client_certificate_carries_user_and_group(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    pair = ca.issue("admin", "kubernetes-admin", "system:masters")
    cert = _load(pair.cert)
    cert.verify_directly_issued_by(_load(ca.cert_path))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert (
        cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    )
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages
    assert pair.key.stat().st_mode & 0o077 == 0, "private keys are readable by the owner only"


def test_serving_certificate_names_loopback(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    cert = _load(ca.issue("apiserver", "kube-apiserver", server=True).cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_service_account_keys_are_a_pair(tmp_path: Path) -> None:
    pair = service_account_keys(tmp_path)
    assert b"PUBLIC KEY" in pair.cert.read_bytes()
    assert b"PRIVATE KEY" in pair.key.read_bytes()
