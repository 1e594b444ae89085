// Package consuljson holds Consul's JSON shapes for the /v1 HTTP API — the
// exact field names Consul's clients read and send — and the one place where
// they are converted from and to Beacon's protobuf messages.
//
// The structs double as the data that ?filter expressions (go-bexpr) are
// evaluated over, so their Go field names are Consul's selector names and the
// bookkeeping fields Consul hides from filters carry `bexpr:"-"`. Filterable
// parts are values, not pointers, so a selector never walks into a nil.
package consuljson
