package certs

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
)

// Sentinel errors, for errors.Is. Every error returned by this package that
// falls in one of these classes wraps the matching sentinel.
var (
	// ErrInvalidIdentity: the identity given is malformed or incomplete.
	ErrInvalidIdentity = errors.New("invalid identity")

	// ErrForbidden: Kubernetes RBAC does not let the user create a token for
	// the service account (verb create on serviceaccounts/token).
	ErrForbidden = errors.New("forbidden")

	// ErrServiceAccountNotFound: the service account does not exist.
	ErrServiceAccountNotFound = errors.New("service account not found")

	// ErrCAUnreachable: no answer from the mesh CA (connection refused, DNS,
	// timeout, gateway not forwarding port 15012, ...).
	ErrCAUnreachable = errors.New("mesh CA unreachable")

	// ErrCAUntrusted: the CA's TLS certificate does not verify against the mesh
	// root bundle, or is not valid for the server name used.
	ErrCAUntrusted = errors.New("mesh CA not trusted")

	// ErrCARefused: the CA did not accept the token (Unauthenticated,
	// PermissionDenied).
	ErrCARefused = errors.New("mesh CA refused the request")

	// ErrCAInvalidRequest: the CA rejected the request itself (InvalidArgument),
	// most often a TTL above its maximum.
	ErrCAInvalidRequest = errors.New("mesh CA rejected the request")

	// ErrBadCertificate: the CA answered with a certificate that must not be
	// used: for another identity, not chaining to the mesh root, expired, or not
	// matching the key.
	ErrBadCertificate = errors.New("unusable certificate from the mesh CA")

	// ErrCertExpired: the certificate in use has expired and renewal still
	// fails (reported by [Rotator] through OnError).
	ErrCertExpired = errors.New("workload certificate expired")
)

// CAError is a failed call to the mesh CA. Its message says what to do next;
// it never contains the token (anything the CA echoes of it is redacted).
// It unwraps to one of the sentinels above when the failure is classified,
// and to the underlying TLS or context error when there is one.
type CAError struct {
	Code       codes.Code // gRPC status code of the call
	Message    string     // the CA's own message, token removed
	Address    string     // CA address dialled
	ServerName string     // TLS server name verified
	// Hint is the next step that fits this failure, "" when the caller's general one fits.
	Hint string

	kind  error // a sentinel, or nil
	cause error // *tls.CertificateVerificationError, context error, or nil
	text  string
}

func (e *CAError) Error() string { return e.text }

// Unwrap returns the sentinel and the cause, whichever are set.
func (e *CAError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// redact removes the token from s: the whole token, and each dot-separated
// part of a JWT long enough to identify it (a server may echo the claims).
func redact(s, token string) string {
	if token == "" {
		return s
	}
	s = strings.ReplaceAll(s, token, "[token]")
	for part := range strings.SplitSeq(token, ".") {
		if len(part) >= 8 {
			s = strings.ReplaceAll(s, part, "[token]")
		}
	}
	return s
}
