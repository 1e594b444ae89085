module github.com/beaconmesh/beacon/tests

go 1.26.0

replace github.com/beaconmesh/beacon/proto => ../proto

replace github.com/beaconmesh/beacon/platform => ../platform
