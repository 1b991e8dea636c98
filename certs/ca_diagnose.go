package certs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// istiodOpaqueRefusal is all istiod tells a client whose token it does not accept; the reason
// (cluster unknown, TokenReview failed, audience, ...) goes only to istiod's own log.
const istiodOpaqueRefusal = "request authenticate failure"

// tokenClaims are the JWT claims meshjoin can read from its own token (without verifying it:
// it only explains a refusal).
type tokenClaims struct {
	Audience audience `json:"aud"`
	Expiry   int64    `json:"exp"`
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
}

// audience is the JWT "aud" claim: a string or a list of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// parseClaims reads the payload of a JWT; ok is false when token is not one.
func parseClaims(token string) (tokenClaims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenClaims{}, false
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, false
	}
	return c, true
}

// explainRefusal works out the likely reason the CA refused the token, from what meshjoin can
// see: the token's own claims, the cluster ID sent against the name istiod knows the cluster
// by, and the CA address against the one this cluster's east-west gateway exposes. It returns
// the reason (for the message) and the next step (for the hint). The token itself never
// appears in either.
func (c *CAClient) explainRefusal(token string, now time.Time) (reason, hint string) {
	claims, isJWT := parseClaims(token)
	switch {
	case !isJWT:
		return "the token sent is not a JWT, so no Kubernetes API server can have issued it",
			"meshjoin takes service-account tokens from the cluster (TokenRequest); check the kube context"
	case !slices.Contains(claims.Audience, CAAudience):
		return fmt.Sprintf("the token's audience is %s, and istiod accepts only tokens for audience %q (its TOKEN_AUDIENCES)", quoteList(claims.Audience), CAAudience),
			fmt.Sprintf("request the token for audience %q", CAAudience)
	case claims.Expiry != 0 && time.Unix(claims.Expiry, 0).Before(now):
		return fmt.Sprintf("the token expired at %s (this computer's clock says %s)", time.Unix(claims.Expiry, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)),
			"check this computer's clock (a clock far ahead makes fresh tokens look expired), then retry"
	}
	id := c.cfg.ClusterID
	switch {
	case id != "" && c.cfg.ClusterName != "" && id != c.cfg.ClusterName:
		return fmt.Sprintf("the request claimed cluster ID %q, but istiod knows this cluster as %q (values.global.multiCluster.clusterName); "+
				"istiod refuses tokens of a cluster it does not know", id, c.cfg.ClusterName),
			fmt.Sprintf("pass --cluster-id %s, or leave --cluster-id out (istiod then takes its own cluster)", c.cfg.ClusterName)
	case id != "" && c.cfg.ClusterName == "":
		return fmt.Sprintf("the request claimed cluster ID %q, which istiod may not know (it refuses tokens of a cluster it does not know; "+
				"the mesh does not say what it calls this cluster)", id),
			"leave --cluster-id out (istiod then takes its own cluster), or ask the mesh admin for the cluster's name (values.global.multiCluster.clusterName)"
	}
	if own := c.cfg.ClusterCAAddress; own != "" && own != c.cfg.Address {
		return fmt.Sprintf("the CA at %s is not the istiod this cluster's east-west gateway exposes (%s): "+
				"an istiod of another cluster cannot check this cluster's tokens, even when it shares the mesh root", c.cfg.Address, own),
			fmt.Sprintf("leave --ca-address out, or point it at this cluster's istiod (%s)", own)
	}
	return fmt.Sprintf("the token (audience %q, issuer %s, valid until %s) and the cluster ID look right to meshjoin, "+
			"so istiod most likely expects another token audience (its TOKEN_AUDIENCES) or cannot review tokens with the API server; "+
			"istiod's log says which (\"Failed to authenticate client\")",
			CAAudience, quoteShort(claims.Issuer), time.Unix(claims.Expiry, 0).UTC().Format(time.RFC3339)),
		"ask the mesh admin which token audience istiod accepts (TOKEN_AUDIENCES on istiod; Istio's default is istio-ca) and to look at istiod's log"
}

func quoteList(s []string) string {
	if len(s) == 0 {
		return "empty"
	}
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = quoteShort(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
