package tagged

import (
	"maps"
	"testing"
)

func TestNodeAddresses(t *testing.T) {
	tests := []struct {
		addr   string
		family string
		want   map[string]string
	}{
		{"10.0.0.1", "ipv4", map[string]string{"lan": "10.0.0.1", "wan": "10.0.0.1", "lan_ipv4": "10.0.0.1", "wan_ipv4": "10.0.0.1"}},
		{"::1", "ipv6", map[string]string{"lan": "::1", "wan": "::1", "lan_ipv6": "::1", "wan_ipv6": "::1"}},
		{"node.example", "", map[string]string{"lan": "node.example", "wan": "node.example"}},
		// The catalog replica's own node, as its registration tests had it.
		{"10.0.0.5", "ipv4", map[string]string{"lan": "10.0.0.5", "lan_ipv4": "10.0.0.5", "wan": "10.0.0.5", "wan_ipv4": "10.0.0.5"}},
		{"fd00::5", "ipv6", map[string]string{"lan": "fd00::5", "lan_ipv6": "fd00::5", "wan": "fd00::5", "wan_ipv6": "fd00::5"}},
	}
	for _, tt := range tests {
		if got := Family(tt.addr); got != tt.family {
			t.Errorf("Family(%q) = %q, want %q", tt.addr, got, tt.family)
		}
		if got := NodeAddresses(tt.addr); !maps.Equal(got, tt.want) {
			t.Errorf("NodeAddresses(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestNodeMeta(t *testing.T) {
	in := map[string]string{"rack": "r1"}
	got := NodeMeta(in)
	if want := map[string]string{"rack": "r1", SegmentMetaKey: ""}; !maps.Equal(got, want) {
		t.Errorf("NodeMeta = %v, want %v", got, want)
	}
	if _, changed := in[SegmentMetaKey]; changed {
		t.Error("NodeMeta modified its argument")
	}
	if got := NodeMeta(nil); !maps.Equal(got, map[string]string{SegmentMetaKey: ""}) {
		t.Errorf("NodeMeta(nil) = %v", got)
	}
}
