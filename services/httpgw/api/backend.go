package api

import (
	"context"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	"google.golang.org/grpc"
)

// The interfaces below declare exactly the catalog calls the gateway makes.
// The generated gRPC clients satisfy them; tests may hand in anything else
// that does.

// CatalogClient is the part of beacon.catalog.v1.CatalogService the gateway uses.
type CatalogClient interface {
	Register(ctx context.Context, in *catalogv1.RegisterRequest, opts ...grpc.CallOption) (*catalogv1.RegisterResponse, error)
	Deregister(ctx context.Context, in *catalogv1.DeregisterRequest, opts ...grpc.CallOption) (*catalogv1.DeregisterResponse, error)
	ListDatacenters(ctx context.Context, in *catalogv1.ListDatacentersRequest, opts ...grpc.CallOption) (*catalogv1.ListDatacentersResponse, error)
	ListNodes(ctx context.Context, in *catalogv1.ListNodesRequest, opts ...grpc.CallOption) (*catalogv1.ListNodesResponse, error)
	ListServices(ctx context.Context, in *catalogv1.ListServicesRequest, opts ...grpc.CallOption) (*catalogv1.ListServicesResponse, error)
	ServiceNodes(ctx context.Context, in *catalogv1.ServiceNodesRequest, opts ...grpc.CallOption) (*catalogv1.ServiceNodesResponse, error)
	NodeServices(ctx context.Context, in *catalogv1.NodeServicesRequest, opts ...grpc.CallOption) (*catalogv1.NodeServicesResponse, error)
}

// HealthClient is the part of beacon.catalog.v1.HealthService the gateway uses.
type HealthClient interface {
	NodeChecks(ctx context.Context, in *catalogv1.NodeChecksRequest, opts ...grpc.CallOption) (*catalogv1.NodeChecksResponse, error)
	ServiceChecks(ctx context.Context, in *catalogv1.ServiceChecksRequest, opts ...grpc.CallOption) (*catalogv1.ServiceChecksResponse, error)
	ChecksInState(ctx context.Context, in *catalogv1.ChecksInStateRequest, opts ...grpc.CallOption) (*catalogv1.ChecksInStateResponse, error)
	ServiceHealth(ctx context.Context, in *catalogv1.ServiceHealthRequest, opts ...grpc.CallOption) (*catalogv1.ServiceHealthResponse, error)
	ListServiceHealth(ctx context.Context, in *catalogv1.ListServiceHealthRequest, opts ...grpc.CallOption) (*catalogv1.ListServiceHealthResponse, error)
}

// KVClient is beacon.kv.v1.KVService.
type KVClient interface {
	Get(ctx context.Context, in *kvv1.GetRequest, opts ...grpc.CallOption) (*kvv1.GetResponse, error)
	List(ctx context.Context, in *kvv1.ListRequest, opts ...grpc.CallOption) (*kvv1.ListResponse, error)
	Keys(ctx context.Context, in *kvv1.KeysRequest, opts ...grpc.CallOption) (*kvv1.KeysResponse, error)
	Put(ctx context.Context, in *kvv1.PutRequest, opts ...grpc.CallOption) (*kvv1.PutResponse, error)
	PutBatch(ctx context.Context, in *kvv1.PutBatchRequest, opts ...grpc.CallOption) (*kvv1.PutBatchResponse, error)
	Delete(ctx context.Context, in *kvv1.DeleteRequest, opts ...grpc.CallOption) (*kvv1.DeleteResponse, error)
}

// SessionClient is beacon.kv.v1.SessionService.
type SessionClient interface {
	CreateSession(ctx context.Context, in *kvv1.CreateSessionRequest, opts ...grpc.CallOption) (*kvv1.CreateSessionResponse, error)
	DestroySession(ctx context.Context, in *kvv1.DestroySessionRequest, opts ...grpc.CallOption) (*kvv1.DestroySessionResponse, error)
	RenewSession(ctx context.Context, in *kvv1.RenewSessionRequest, opts ...grpc.CallOption) (*kvv1.RenewSessionResponse, error)
	GetSession(ctx context.Context, in *kvv1.GetSessionRequest, opts ...grpc.CallOption) (*kvv1.GetSessionResponse, error)
	ListSessions(ctx context.Context, in *kvv1.ListSessionsRequest, opts ...grpc.CallOption) (*kvv1.ListSessionsResponse, error)
	NodeSessions(ctx context.Context, in *kvv1.NodeSessionsRequest, opts ...grpc.CallOption) (*kvv1.NodeSessionsResponse, error)
}

// TxnClient is beacon.kv.v1.TxnService.
type TxnClient interface {
	Txn(ctx context.Context, in *kvv1.TxnRequest, opts ...grpc.CallOption) (*kvv1.TxnResponse, error)
}

// StatusClient is beacon.operator.v1.StatusService.
type StatusClient interface {
	Leader(ctx context.Context, in *operatorv1.LeaderRequest, opts ...grpc.CallOption) (*operatorv1.LeaderResponse, error)
	Peers(ctx context.Context, in *operatorv1.PeersRequest, opts ...grpc.CallOption) (*operatorv1.PeersResponse, error)
}

// OperatorClient is beacon.operator.v1.OperatorService.
type OperatorClient interface {
	RaftConfiguration(ctx context.Context, in *operatorv1.RaftConfigurationRequest, opts ...grpc.CallOption) (*operatorv1.RaftConfigurationResponse, error)
	RemovePeer(ctx context.Context, in *operatorv1.RemovePeerRequest, opts ...grpc.CallOption) (*operatorv1.RemovePeerResponse, error)
}

// SnapshotClient is beacon.operator.v1.SnapshotService.
type SnapshotClient interface {
	Save(ctx context.Context, in *operatorv1.SaveRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[operatorv1.SaveResponse], error)
	Restore(ctx context.Context, opts ...grpc.CallOption) (grpc.ClientStreamingClient[operatorv1.RestoreRequest, operatorv1.RestoreResponse], error)
}

// MembershipClient is the part of beacon.catalog.v1.MembershipService the
// gateway uses (force-leave).
type MembershipClient interface {
	LeaveMember(ctx context.Context, in *catalogv1.LeaveMemberRequest, opts ...grpc.CallOption) (*catalogv1.LeaveMemberResponse, error)
}

// CAClient is beacon.connect.v1.CAService, the built-in Connect CA.
type CAClient interface {
	Roots(ctx context.Context, in *connectv1.RootsRequest, opts ...grpc.CallOption) (*connectv1.RootsResponse, error)
	GetConfig(ctx context.Context, in *connectv1.GetConfigRequest, opts ...grpc.CallOption) (*connectv1.GetConfigResponse, error)
	SetConfig(ctx context.Context, in *connectv1.SetConfigRequest, opts ...grpc.CallOption) (*connectv1.SetConfigResponse, error)
}

// IntentionClient is beacon.connect.v1.IntentionService.
type IntentionClient interface {
	UpsertIntention(ctx context.Context, in *connectv1.UpsertIntentionRequest, opts ...grpc.CallOption) (*connectv1.UpsertIntentionResponse, error)
	DeleteIntention(ctx context.Context, in *connectv1.DeleteIntentionRequest, opts ...grpc.CallOption) (*connectv1.DeleteIntentionResponse, error)
	GetIntention(ctx context.Context, in *connectv1.GetIntentionRequest, opts ...grpc.CallOption) (*connectv1.GetIntentionResponse, error)
	ListIntentions(ctx context.Context, in *connectv1.ListIntentionsRequest, opts ...grpc.CallOption) (*connectv1.ListIntentionsResponse, error)
	MatchIntentions(ctx context.Context, in *connectv1.MatchIntentionsRequest, opts ...grpc.CallOption) (*connectv1.MatchIntentionsResponse, error)
	CheckIntention(ctx context.Context, in *connectv1.CheckIntentionRequest, opts ...grpc.CallOption) (*connectv1.CheckIntentionResponse, error)
}

// AgentClient is beacon.agent.v1.AgentService, the node agent's API behind
// /v1/agent/*.
type AgentClient interface {
	Self(ctx context.Context, in *agentv1.SelfRequest, opts ...grpc.CallOption) (*agentv1.SelfResponse, error)
	Members(ctx context.Context, in *agentv1.MembersRequest, opts ...grpc.CallOption) (*agentv1.MembersResponse, error)
	ListServices(ctx context.Context, in *agentv1.ListServicesRequest, opts ...grpc.CallOption) (*agentv1.ListServicesResponse, error)
	GetService(ctx context.Context, in *agentv1.GetServiceRequest, opts ...grpc.CallOption) (*agentv1.GetServiceResponse, error)
	RegisterService(ctx context.Context, in *agentv1.RegisterServiceRequest, opts ...grpc.CallOption) (*agentv1.RegisterServiceResponse, error)
	DeregisterService(ctx context.Context, in *agentv1.DeregisterServiceRequest, opts ...grpc.CallOption) (*agentv1.DeregisterServiceResponse, error)
	ListChecks(ctx context.Context, in *agentv1.ListChecksRequest, opts ...grpc.CallOption) (*agentv1.ListChecksResponse, error)
	RegisterCheck(ctx context.Context, in *agentv1.RegisterCheckRequest, opts ...grpc.CallOption) (*agentv1.RegisterCheckResponse, error)
	DeregisterCheck(ctx context.Context, in *agentv1.DeregisterCheckRequest, opts ...grpc.CallOption) (*agentv1.DeregisterCheckResponse, error)
	UpdateCheck(ctx context.Context, in *agentv1.UpdateCheckRequest, opts ...grpc.CallOption) (*agentv1.UpdateCheckResponse, error)
	Reload(ctx context.Context, in *agentv1.ReloadRequest, opts ...grpc.CallOption) (*agentv1.ReloadResponse, error)
	Leave(ctx context.Context, in *agentv1.LeaveRequest, opts ...grpc.CallOption) (*agentv1.LeaveResponse, error)
	Maintenance(ctx context.Context, in *agentv1.MaintenanceRequest, opts ...grpc.CallOption) (*agentv1.MaintenanceResponse, error)
	ConnectLeaf(ctx context.Context, in *agentv1.ConnectLeafRequest, opts ...grpc.CallOption) (*agentv1.ConnectLeafResponse, error)
	ConnectAuthorize(ctx context.Context, in *agentv1.ConnectAuthorizeRequest, opts ...grpc.CallOption) (*agentv1.ConnectAuthorizeResponse, error)
	Monitor(ctx context.Context, in *agentv1.MonitorRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[agentv1.MonitorResponse], error)
}

// Backend is every service the gateway calls: the catalog's, and the node
// agent's when there is one.
type Backend struct {
	Catalog  CatalogClient
	Health   HealthClient
	KV       KVClient
	Session  SessionClient
	Txn      TxnClient
	Status   StatusClient
	Operator OperatorClient
	Snapshot SnapshotClient
	// CA and Intentions serve /v1/connect/*.
	CA         CAClient
	Intentions IntentionClient
	// Members serves /v1/agent/force-leave.
	Members MembershipClient
	// Agent serves /v1/agent/*; nil when no node agent is configured, and
	// then those routes answer 503 (all but /v1/agent/self, which falls
	// back to what the catalog knows).
	Agent AgentClient
}

// NewBackend returns a Backend of generated catalog clients sharing conn,
// without a node agent.
func NewBackend(conn grpc.ClientConnInterface) Backend {
	return Backend{
		Catalog:  catalogv1.NewCatalogServiceClient(conn),
		Health:   catalogv1.NewHealthServiceClient(conn),
		KV:       kvv1.NewKVServiceClient(conn),
		Session:  kvv1.NewSessionServiceClient(conn),
		Txn:      kvv1.NewTxnServiceClient(conn),
		Status:   operatorv1.NewStatusServiceClient(conn),
		Operator: operatorv1.NewOperatorServiceClient(conn),
		Snapshot: operatorv1.NewSnapshotServiceClient(conn),

		CA:         connectv1.NewCAServiceClient(conn),
		Intentions: connectv1.NewIntentionServiceClient(conn),
		Members:    catalogv1.NewMembershipServiceClient(conn),
	}
}

// NewAgentClient returns the generated node agent client over conn.
func NewAgentClient(conn grpc.ClientConnInterface) AgentClient {
	return agentv1.NewAgentServiceClient(conn)
}
