module github.com/beaconmesh/beacon/cmd/beacon

go 1.26.0

replace github.com/beaconmesh/beacon/proto => ../../proto
replace github.com/beaconmesh/beacon/platform => ../../platform
replace github.com/beaconmesh/beacon/services/catalog => ../../services/catalog
replace github.com/beaconmesh/beacon/services/health => ../../services/health
replace github.com/beaconmesh/beacon/services/dnsgw => ../../services/dnsgw
replace github.com/beaconmesh/beacon/services/httpgw => ../../services/httpgw
replace github.com/beaconmesh/beacon/services/proxy => ../../services/proxy
