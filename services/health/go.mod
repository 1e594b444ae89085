module github.com/beaconmesh/beacon/services/health

go 1.26.0

replace github.com/beaconmesh/beacon/proto => ../../proto

replace github.com/beaconmesh/beacon/platform => ../../platform

require (
	github.com/go-viper/mapstructure/v2 v2.5.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/hashicorp/hcl v1.0.1-vault-7 // indirect
)
