//! Layer 6: the TLS handshake with the trust login uses (AWS_CA_BUNDLE / the profile's ca_bundle, else the system's
//! roots): certificate names, unknown issuer (a TLS-inspecting proxy or a missing CA bundle), expiry. Also: would
//! pip's own trust (its `cert` setting, REQUESTS_CA_BUNDLE, or its bundled certifi) accept the same chain?

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{
    self,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    client::WebPkiServerVerifier,
    CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::config::Ctx;
use super::{Budget, Check, HostProbe, Layer, Recorder, Which};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Roots from a PEM file.
pub fn roots_from_pem(path: &str) -> Result<RootCertStore, String> {
    // Bounded, regular files only, as every file ca-login reads.
    let bytes = match crate::files::read_bytes(std::path::Path::new(path), "read the CA bundle") {
        Ok(Some(b)) => b,
        Ok(None) => return Err(format!("cannot read {path}: no such file")),
        Err(e) => return Err(e.to_string()),
    };
    let mut store = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&bytes) {
        let c = c.map_err(|e| format!("{path}: bad PEM ({e:?})"))?;
        let _ = store.add(c);
    }
    if store.is_empty() {
        return Err(format!("{path} holds no usable certificate"));
    }
    Ok(store)
}

/// The trust login uses: the CA bundle when set (it replaces the system's, as with the AWS CLI), else native roots.
pub fn aws_roots(ca_bundle: Option<&str>) -> Result<(RootCertStore, String), String> {
    match ca_bundle {
        Some(p) => Ok((roots_from_pem(p)?, format!("the CA bundle {p}"))),
        None => {
            let mut store = RootCertStore::empty();
            let loaded = rustls_native_certs::load_native_certs();
            for c in loaded.certs {
                let _ = store.add(c);
            }
            Ok((store, "the system's trusted roots".into()))
        }
    }
}

/// A verifier that remembers the chain the server presented, then lets webpki decide.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut g) = self.seen.lock() {
            *g = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn verifier(roots: RootCertStore) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("no usable trust roots ({e})"))
}

fn client_config(v: Arc<dyn ServerCertVerifier>) -> Result<Arc<rustls::ClientConfig>, String> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(v)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A client config with login's trust (for the repository read).
pub fn login_config(ca_bundle: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let (roots, _) = aws_roots(ca_bundle)?;
    client_config(verifier(roots)?)
}

/// The common name of a certificate's issuer, from its DER (enough to name a proxy's CA).
pub fn issuer_cn(der: &[u8]) -> Option<String> {
    // Certificate ::= SEQ { tbs SEQ { [0] version?, serial INT, sigAlg SEQ, issuer Name, ... } ... }
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let l0 = *b.get(1)? as usize;
        let (len, hdr) = if l0 < 0x80 {
            (l0, 2)
        } else {
            let n = l0 & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let body = b.get(hdr..hdr + len)?;
        Some((tag, body, &b[hdr + len..]))
    }
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    let (_, _, r) = tlv(rest)?; // serial
    let (_, _, r) = tlv(r)?; // signature algorithm
    let (_, issuer, _) = tlv(r)?;
    let mut sets = issuer;
    while let Some((_, set, next)) = tlv(sets) {
        if let Some((_, atv, _)) = tlv(set) {
            if let Some((_, oid, val)) = tlv(atv) {
                if oid == [0x55, 0x04, 0x03] {
                    let (_, v, _) = tlv(val)?;
                    return Some(String::from_utf8_lossy(v).into_owned());
                }
            }
        }
        sets = next;
    }
    None
}

fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

/// Handshake on an open connection and report. The chain is kept for the pip trust check.
pub async fn check(
    stream: TcpStream,
    host: &str,
    which: Which,
    ctx: &Ctx,
    budget: &Budget,
    rec: &Recorder,
) -> HostProbe {
    let t0 = Instant::now();
    let name = which.name("tls-api", "tls-repositories");
    let region = ctx.region.clone().unwrap_or_else(|| "REGION".into());
    let (roots, trust) = match aws_roots(ctx.ca_bundle.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            rec.push(
                Check::fail(
                    name,
                    Layer::Tls,
                    e.clone(),
                    "tls-untrusted",
                    format!("The CA bundle cannot be used: {e}."),
                    "point AWS_CA_BUNDLE (or ca_bundle in the AWS profile) at a readable PEM file",
                )
                .took(t0),
            );
            return HostProbe {
                failed: true,
                chain: Vec::new(),
            };
        }
    };
    let inner = match verifier(roots) {
        Ok(v) => v,
        Err(e) => {
            rec.push(Check::fail(name, Layer::Tls, format!("{e} in {trust}"), "tls-untrusted", format!("No trusted roots in {trust}."), "set AWS_CA_BUNDLE to a PEM file with the CA that signs the endpoint's certificate").took(t0));
            return HostProbe {
                failed: true,
                chain: Vec::new(),
            };
        }
    };
    let recording = Arc::new(Recording {
        inner,
        seen: Mutex::new(Vec::new()),
    });
    let cfg = match client_config(recording.clone()) {
        Ok(c) => c,
        Err(e) => {
            rec.push(Check::skip(name, Layer::Tls, format!("cannot set up TLS: {e}")).took(t0));
            return HostProbe {
                failed: false,
                chain: Vec::new(),
            };
        }
    };
    let Ok(server_name) = ServerName::try_from(host.to_string()) else {
        rec.push(
            Check::skip(
                name,
                Layer::Tls,
                format!("{host} is not a valid TLS server name"),
            )
            .took(t0),
        );
        return HostProbe {
            failed: false,
            chain: Vec::new(),
        };
    };
    let connector = tokio_rustls::TlsConnector::from(cfg);
    let got = budget.run(connector.connect(server_name, stream)).await;
    let chain = recording.seen.lock().map(|g| g.clone()).unwrap_or_default();
    let issuer = chain
        .first()
        .and_then(|c| issuer_cn(c.as_ref()))
        .unwrap_or_else(|| "an unnamed issuer".into());
    let check = match got {
        Some(Ok(s)) => {
            let version = s.get_ref().1.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
            Check::ok(name, Layer::Tls, format!("{host}: {} handshake; certificate valid for {host}, issued by {issuer}, trusted by {trust}", version.replace('_', ".")))
        }
        Some(Err(e)) => {
            let untrusted_fix = format!(
                "{}: export AWS_CA_BUNDLE=/path/to/proxy-or-corporate-ca.pem (the certificate for {host} is issued by {issuer})",
                crate::remedy::unreachable_api(crate::error::NetFailure::Tls, &region, host)
            );
            match rustls_error(&e) {
                Some(rustls::Error::InvalidCertificate(ce)) => match ce {
                    CertificateError::UnknownIssuer | CertificateError::BadSignature => Check::fail(
                        name,
                        Layer::Tls,
                        format!("{host}: certificate issued by {issuer} is not trusted by {trust} (unknown issuer)"),
                        "tls-untrusted",
                        format!("The certificate {host} presents (issuer {issuer}) is not trusted: a TLS-inspecting proxy, or a missing CA bundle."),
                        untrusted_fix,
                    ),
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                        let presented = match ce {
                            CertificateError::NotValidForNameContext { presented, .. } => presented.join(", "),
                            _ => "other names".into(),
                        };
                        Check::fail(
                            name,
                            Layer::Tls,
                            format!("{host}: the certificate names {presented}, not {host}"),
                            "tls-certificate-name-mismatch",
                            format!("The certificate presented for {host} is for {presented}: another server (or a proxy) answers for this name."),
                            format!("check what {host} resolves to (a hosts file or DNS override), endpoint_url / repository_endpoint_url, and HTTPS_PROXY / NO_PROXY"),
                        )
                    }
                    other => Check::fail(
                        name,
                        Layer::Tls,
                        format!("{host}: certificate rejected ({other:?})"),
                        "tls-untrusted",
                        format!("The certificate {host} presents is rejected ({other:?})."),
                        untrusted_fix,
                    ),
                },
                _ => Check::fail(
                    name,
                    Layer::Tls,
                    format!("{host}: TLS handshake failed ({e})"),
                    "tls-handshake-failed",
                    format!("The TLS handshake with {host} failed: the server does not speak TLS on this port, or a middlebox interferes."),
                    format!("check that {host} is a CodeArtifact endpoint and that no proxy intercepts it (HTTPS_PROXY / NO_PROXY)"),
                ),
            }
        }
        None => Check::fail(
            name,
            Layer::Tls,
            format!("{host}: no TLS handshake within {:.1} s", budget.timeout.as_secs_f32()),
            which.name("api-endpoint-unreachable", "repositories-endpoint-unreachable"),
            format!("{host} accepts TCP connections but never completes a TLS handshake."),
            format!("something other than the CodeArtifact endpoint holds {host}:443 (a firewall or proxy); check the {} VPC endpoint and the route", super::dns::service_name(which, &region)),
        ),
    };
    let failed = check.status == super::Status::Fail;
    rec.push(check.took(t0));
    HostProbe { failed, chain }
}

/// Would a trust store built from `pem` accept `chain` for `host`?
pub fn trusts(pem: &str, chain: &[CertificateDer<'static>], host: &str) -> Result<bool, String> {
    let v = verifier(roots_from_pem(pem)?)?;
    let Some((ee, rest)) = chain.split_first() else {
        return Err("no certificate was seen".into());
    };
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    Ok(v.verify_server_cert(ee, rest, &name, &[], UnixTime::now())
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_cn_is_none_for_garbage() {
        assert_eq!(issuer_cn(&[]), None);
        assert_eq!(issuer_cn(&[0x30, 0x03, 0x02, 0x01, 0x01]), None);
    }
}
