package consuljson

import (
	"reflect"
	"strings"
)

// CanonicalKeys rewrites the object keys of v, a JSON document decoded into
// any, to the field names of t, the struct the document is meant for. It is
// how the agent endpoints read bodies the way Consul does: in CamelCase
// ("EnableTagOverride"), snake_case ("enable_tag_override") or lower case
// ("enabletagoverride", as python-consul sends).
//
// A key names a field when the two are equal once case and underscores are
// ignored, or when it is one of the names in the field's `alias` tag. Keys of
// maps (Meta, Header, Proxy.Config) belong to the user and are kept as they
// are; so are keys that name no field, which the decoder then ignores.
func CanonicalKeys(v any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return v // the decoder reports the wrong type
		}
		fields := fieldsOf(t)
		out := make(map[string]any, len(obj))
		for k, val := range obj {
			f, ok := fields[foldKey(k)]
			if !ok {
				out[k] = val
				continue
			}
			out[f.name] = CanonicalKeys(val, f.typ)
		}
		return out
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := make(map[string]any, len(obj))
		for k, val := range obj {
			out[k] = CanonicalKeys(val, t.Elem())
		}
		return out
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(list))
		for i, val := range list {
			out[i] = CanonicalKeys(val, t.Elem())
		}
		return out
	}
	return v
}

// field is a struct field as the JSON decoder names it.
type field struct {
	name string
	typ  reflect.Type
}

// fieldsOf indexes t's JSON fields by folded name and alias.
func fieldsOf(t reflect.Type) map[string]field {
	out := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fd := field{name: name, typ: f.Type}
		out[foldKey(name)] = fd
		if alias := f.Tag.Get("alias"); alias != "" {
			for a := range strings.SplitSeq(alias, ",") {
				out[foldKey(a)] = fd
			}
		}
	}
	return out
}

// foldKey is the form in which keys are compared: lower case, without
// underscores.
func foldKey(k string) string {
	return strings.ToLower(strings.ReplaceAll(k, "_", ""))
}
