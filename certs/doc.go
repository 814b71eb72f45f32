// Package certs is ackmsg's trust layer: it signs and verifies envelopes exactly as fedmsg's
// x509 backend does (plus an Ed25519 variant for ackmsg-only buses), and it issues the CA,
// service certificates and CRLs that operators need.
//
// # What it guarantees
//
// Signing (X509Signer) with an RSA key is byte-compatible with fedmsg 1.1.7: it sets "crypto" to
// "x509", signs the canonical JSON of every field except "signature" and "certificate" with RSA
// PKCS#1 v1.5 over SHA-1 (deterministic), and writes both fields as 76-column base64 with a trailing newline; the
// certificate field is the base64 of the signer's PEM text. Python fedmsg validates what we sign
// and we reproduce its signatures byte for byte (testdata/vectors).
//
// # Ed25519 (crypto "x509-ed25519")
//
// A signer whose certificate and key are Ed25519 (`ackmsg-certs issue NAME --key-type ed25519`)
// signs under its own crypto value, CryptoEd25519 = "x509-ed25519" (spec/wire.md §4: other
// algorithms never go under "x509"): an Ed25519 signature over the same canonical bytes (crypto
// set first), with signature and certificate fields laid out exactly as for x509. Signing costs
// about 25 µs instead of 1-1.5 ms for RSA-2048; verifying costs about 55 µs instead of 40 µs.
// The key type alone picks the value (LoadSigner, NewSignerFromKey); nothing in the configuration
// needs to change. The CA may stay RSA: an RSA CA issuing Ed25519 leaves is the intended setup;
// an Ed25519 CA also works between ackmsg peers.
//
// Python fedmsg consumers reject x509-ed25519 cleanly (its validate raises on any crypto value
// but x509 and gpg) and never misread it, so use Ed25519 only where every consumer of the signer's
// messages, and every publisher it acknowledges, is ackmsg.
//
// Verifiers accept both values by default (DefaultAllowedCrypto), so buses mixing RSA and Ed25519
// signers work without configuration; TrustConfig.AllowedCrypto (crypto_validate_backends) can
// narrow that to fedmsg's ["x509"]. The crypto value must match the certificate's key type: an
// Ed25519 certificate under "x509" or an RSA certificate under "x509-ed25519" fails the
// signature check (ErrSignature) even when the signature is valid for its key.
//
// Verification (X509Verifier) accepts a message only if every check below passes, in this order
// (spec/wire.md §4, reference §3.3). Each failure is a *VerifyError naming the check and the signer,
// wrapping exactly one sentinel:
//
//  1. crypto value allowed and supported, x509 or x509-ed25519 (ErrCrypto); absent crypto selects
//     x509 when a certificate is present, as old fedmsg did;
//  2. signature and certificate present (ErrUnsigned) and decodable: Python-lenient base64 (every
//     non-alphabet character dropped, missing padding still an error), then PEM, then X.509
//     (ErrEncoding);
//  3. the leaf is issued directly by the first certificate of the CA file: issuer name and issuer
//     signature, SHA-1 included (ErrUntrusted); no intermediates, no EKU requirement. A CA file
//     whose first certificate cannot be a CA (CA:FALSE, no keyCertSign) is refused at load time;
//  4. leaf and CA are valid now (ErrExpired, saying which one);
//  5. when a CRL file is configured: the CRL is issued and signed by the CA and current
//     (thisUpdate <= now <= nextUpdate; ErrCRL), and lists neither the leaf nor the CA (ErrRevoked).
//     Version 1 and version 2 CRLs are both parsed;
//  6. the signature over the canonical bytes (ErrSignature): RSA PKCS#1 v1.5 SHA-1 for x509,
//     Ed25519 for x509-ed25519, the certificate's key type agreeing with it. If that fails and
//     the envelope carries "gilmsg_version", the check is retried once without that field when
//     TrustConfig.AcceptLateMarker is set (gilmsg adds its marker after signing); a success is
//     reported in Identity.LateMarker. DefaultTrustConfig turns it on; the zero value is strict;
//  7. the routing policy: if the envelope topic is a policy key the leaf's first CN must be listed,
//     otherwise pass unless Nitpicky (ErrPolicy).
//
// VerifySignedBy(m, X) is fedmsg's validate_signed_by: the same checks with the policy forced to
// {topic: [X]} and nitpicky, so it passes only when the first CN is exactly X (ErrSigner otherwise).
// The configured routing policy is ignored there.
//
// No input makes Verify panic; everything that arrives from the wire is treated as hostile.
//
// # Caching and reloading
//
// Chain and CRL results are cached per certificate (keyed by the SHA-256 of the decoded
// certificate field, i.e. its PEM text) for the
// current trust generation, so a warm verification costs one signature check plus the
// canonical encoding. Only certificates whose issuer signature verified against the CA enter the
// cache, so strangers cannot flush it; when it is full it is cleared (TrustConfig.CacheSize).
// Date checks are never cached: each verification compares now against the cached window
// [max(notBefore of leaf and CA, CRL thisUpdate), min(notAfter of leaf and CA, CRL nextUpdate)].
//
// The CA and CRL files are stat'ed at most once per TrustConfig.CheckInterval (by whichever
// verification comes first after the interval) and re-read only when their size, mtime, ctime or
// inode changed; a content change starts a new trust generation and empties the cache. A failed
// verification never triggers a reload (fedmsg reloads on every failure, which lets anyone on the
// bus turn junk messages into file reads or HTTPS fetches). If a changed file cannot be read or
// parsed, the previous trust material stays in force, the error is logged and kept in Stats, and
// the file is retried when it changes again: a half-written CRL does not take the bus down.
// A CRL whose nextUpdate has passed fails every verification with ErrCRL, as OpenSSL does, until a
// fresh CRL is installed: operators must re-sign the CRL in time (RefreshCRL, `ackmsg-certs crl`).
//
// # CA and CRL from URLs
//
// TrustConfig.CAFile and CRLFile may be http:// or https:// URLs, as fedmsg's ca_cert_location
// and crl_location are. Each download is bounded by FetchTimeout and MaxFetchSize and verified
// before use: the CA must parse as a CA certificate; the CRL must parse, be issued and signed by
// the CA, be within thisUpdate..nextUpdate and not be older than the CRL in use. Only then does it
// replace its cache file (CACacheFile, CRLCacheFile; default in DefaultCacheDir()) atomically,
// and the reload above picks it up. The CRL is fetched again after CRLCacheExpiry (fedmsg's
// crl_cache_expiry, 1h) or at its nextUpdate, whichever is first, in the background: the
// verification (or CURVE handshake) that wins the CheckInterval check starts the download and,
// like every other, carries on with the CRL in force until the new one lands.
// A failed or refused fetch keeps the cached copy, logs a warning and counts in
// Stats.FetchErrors, and is retried a minute later; once the cached copy is past its nextUpdate
// every verification fails with ErrCRL naming the URL. NewVerifier fails when a URL cannot be
// fetched and has no cached copy. Reload fetches both again.
//
// # Issuing
//
// InitCA, Issue, Revoke, RefreshCRL and List manage a fedmsg-style ssldir with crypto/x509 only:
// ca.crt, ca.key, crl.pem and <name>.crt / <name>.key, keys mode 0600, files replaced atomically,
// nothing overwritten unless forced. The output is accepted by `openssl verify -crl_check`.
// Issue also issues the service's CURVE key pair (<name>.curve, mode 0600) and writes the public
// key into the certificate as the subjectAltName URI "urn:ackmsg:curve:<hex>".
//
// # CURVE keys
//
// CurveKeys binds CurveZMQ (transport_security = "curve") to the same PKI: a process's own key
// pair is its certificate's (LoadCurveKeyPair checks that the secret key belongs to it), a server's
// key is read from the server's certificate, and a client is authenticated by the certificate in
// the ssldir that carries its key, checked like a signer's (CheckCertificate: issued by the CA,
// within its dates, not revoked by a current CRL) at every handshake, so a refreshed CRL refuses a
// revoked key at its next handshake. An allowlist of CNs narrows who may connect. Refusals are
// counted by reason and logged at most once a second per reason. See docs/security.md.
package certs
