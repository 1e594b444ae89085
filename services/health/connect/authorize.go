package connect

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/beaconmesh/beacon/platform/leaf"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
)

// Decision is the answer to an authorization question.
type Decision struct {
	Authorized bool
	// Reason says why, in Consul's words.
	Reason string
}

// Authorize decides whether the client whose certificate carries the
// SPIFFE ID clientURI may connect to target, as Consul's agent does: the
// most precedent intention with target as destination whose source
// matches the client decides, else the catalog's default. A client from
// another trust domain is never authorized.
func (m *Mesh) Authorize(ctx context.Context, target, clientURI string) (Decision, error) {
	if target == "" {
		return Decision{}, fmt.Errorf("%w: Target service must be specified", ErrInvalid)
	}
	u, err := url.Parse(clientURI)
	if err != nil || !strings.EqualFold(u.Scheme, "spiffe") || u.Host == "" {
		return Decision{}, fmt.Errorf("%w: ClientCertURI not a valid Connect identifier", ErrInvalid)
	}
	client, err := leaf.ParseServiceID(u)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: ClientCertURI not a valid Service identifier", ErrInvalid)
	}
	if !strings.EqualFold(client.Namespace, "default") {
		return Decision{Reason: fmt.Sprintf("Client namespace %q is not supported: only \"default\"", client.Namespace)}, nil
	}

	// Any replica's roots will do: the trust domain never changes.
	roots, err := m.cfg.CA.Roots(ctx, &connectv1.RootsRequest{Options: &queryv1.ReadOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}})
	if err != nil {
		return Decision{}, fmt.Errorf("ca roots: %w", err)
	}
	if td := roots.GetTrustDomain(); !strings.EqualFold(client.TrustDomain, td) {
		return Decision{Reason: fmt.Sprintf("Identity from an external trust domain: %s (this cluster's is %s)", client.TrustDomain, td)}, nil
	}

	resp, err := m.cfg.Intentions.MatchIntentions(ctx, &connectv1.MatchIntentionsRequest{
		By:    connectv1.MatchBy_MATCH_BY_DESTINATION,
		Names: []string{target},
	})
	if err != nil {
		return Decision{}, fmt.Errorf("match intentions for %q: %w", target, err)
	}
	// Most precedent first: the first whose source is the client decides.
	for _, in := range resp.GetMatches()[target].GetIntentions() {
		if src := in.GetSourceName(); src != "*" && !strings.EqualFold(src, client.Service) {
			continue
		}
		allow := in.GetAction() == connectv1.IntentionAction_INTENTION_ACTION_ALLOW
		return Decision{Authorized: allow, Reason: "Matched L4 intention: " + describe(in)}, nil
	}
	return Decision{Authorized: resp.GetDefaultAllow(), Reason: "Default behavior configured by ACLs"}, nil
}

// describe writes an intention as Consul's Intention.String does.
func describe(in *connectv1.Intention) string {
	action := "ALLOW"
	if in.GetAction() == connectv1.IntentionAction_INTENTION_ACTION_DENY {
		action = "DENY"
	}
	id := ""
	if in.GetId() != "" {
		id = "ID: " + in.GetId() + ", "
	}
	return fmt.Sprintf("%s => %s (%sPrecedence: %d, Action: %s)", in.GetSourceName(), in.GetDestinationName(), id, in.GetPrecedence(), action)
}
