// Package certs obtains and renews the workstation's mesh workload certificate.
//
// It does what istio-agent does for a sidecar, without istio-agent:
//
//  1. ask the Kubernetes API for a short-lived service-account token with the
//     audience "istio-ca" ([NewServiceAccountTokenSource]);
//  2. generate an ECDSA P-256 key in memory and a CSR whose only content is the
//     SPIFFE ID as a URI SAN;
//  3. send the CSR with the token to the mesh CA (istiod's
//     IstioCertificateService on port 15012) over TLS verified against the
//     mesh root bundle ([DialCA], [CAClient.Sign]);
//  4. check what comes back: the leaf is for the identity asked for, the chain
//     verifies against the mesh roots, the leaf is current and matches the key
//     ([Issuer.Issue]);
//  5. renew at half-life, keeping the old certificate while renewal fails
//     ([Rotator]).
//
// The private key never leaves memory: [Bundle.KeyPEM] exists to hand it to
// Envoy over SDS, not to write it to disk. No error or log line produced here
// contains the token.
//
// Errors carry sentinels ([ErrForbidden], [ErrCARefused], [ErrCAUnreachable],
// ...) for errors.Is, and [*CAError] for details of a failed call to the CA.
package certs
