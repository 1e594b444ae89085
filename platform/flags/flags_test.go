package flags

import (
	"flag"
	"slices"
	"testing"
)

func TestAddrList(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"default kept when unused", nil, []string{"127.0.0.1:8502"}},
		{"first use replaces the default", []string{"-catalog", "a:1"}, []string{"a:1"}},
		{"repeatable", []string{"-catalog", "a:1", "-catalog", "b:2"}, []string{"a:1", "b:2"}},
		{"comma-separated, blanks dropped", []string{"-catalog", "a:1, b:2,,", "-catalog", "c:3"}, []string{"a:1", "b:2", "c:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &AddrList{Addrs: []string{"127.0.0.1:8502"}}
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.Var(l, "catalog", "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.Addrs, tt.want) {
				t.Errorf("got %q, want %q", l.Addrs, tt.want)
			}
		})
	}
}

func TestStringList(t *testing.T) {
	var l StringList
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(&l, "retry-join", "")
	if err := fs.Parse([]string{"-retry-join", "a,b", "-retry-join", "c"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a,b", "c"}; !slices.Equal(l, want) || l.String() != "a,b,c" {
		t.Errorf("got %q (%q), want %q", l, l.String(), want)
	}
}
