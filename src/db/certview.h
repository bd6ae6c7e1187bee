/* The certview view, the same SQL for every backend (SQLite and
 * PostgreSQL both read it): one row per request with its certificate, if
 * any. Disposition says 21 (revoked) while the certificate is revoked;
 * RequestDisposition (not a db_columns entry) keeps the stored value.
 * Internal to src/db. */
#ifndef CM_DB_CERTVIEW_H
#define CM_DB_CERTVIEW_H

#define DB_CERTVIEW_SQL \
    "CREATE VIEW certview AS SELECT" \
    "  r.RequestID AS RequestID," \
    "  r.RequesterName AS RequesterName," \
    "  r.SubmittedWhen AS SubmittedWhen," \
    "  r.ResolvedWhen AS ResolvedWhen," \
    "  CASE WHEN c.RevokedReason IS NOT NULL THEN 21 ELSE r.Disposition END AS Disposition," \
    "  r.DispositionMessage AS DispositionMessage," \
    "  COALESCE(c.CertificateTemplate, r.CertificateTemplate) AS CertificateTemplate," \
    "  r.RequestDistinguishedName AS RequestDistinguishedName," \
    "  c.SerialNumber AS SerialNumber," \
    "  c.NotBefore AS NotBefore," \
    "  c.NotAfter AS NotAfter," \
    "  c.DistinguishedName AS DistinguishedName," \
    "  c.CommonName AS CommonName," \
    "  c.EMail AS EMail," \
    "  c.SubjectAltNames AS SubjectAltNames," \
    "  c.CertificateHash AS CertificateHash," \
    "  c.SubjectKeyIdentifier AS SubjectKeyIdentifier," \
    "  c.RevokedWhen AS RevokedWhen," \
    "  c.RevokedEffectiveWhen AS RevokedEffectiveWhen," \
    "  c.RevokedReason AS RevokedReason," \
    "  c.InvalidityDate AS InvalidityDate," \
    "  c.Origin AS Origin," \
    "  COALESCE(c.RecoveredFrom, r.RecoveredFrom) AS RecoveredFrom," \
    "  c.Withheld AS Withheld," \
    "  c.RawCertificate AS RawCertificate," \
    "  r.RawRequest AS RawRequest," \
    "  r.Disposition AS RequestDisposition" \
    "  FROM requests r LEFT JOIN certificates c ON c.RequestID = r.RequestID;"

#endif
