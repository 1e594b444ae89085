package api

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/go-bexpr"
	"github.com/hashicorp/go-bexpr/grammar"
)

// maxFilterLen bounds the length of a ?filter expression.
const maxFilterLen = 16 << 10

// filter is a compiled ?filter expression over elements of type T, one of
// the Consul-shaped structs of package consuljson.
type filter[T any] struct {
	ev *bexpr.Evaluator
}

// parseFilter compiles ?filter for elements of type T; nil when absent. A
// syntax error, a selector T does not have, or a value of the wrong type for
// its selector is a 400, found before any catalog call is made.
func parseFilter[T any](q url.Values) (*filter[T], error) {
	expr := q.Get("filter")
	if expr == "" {
		return nil, nil
	}
	if len(expr) > maxFilterLen {
		return nil, badRequestf("Failed to create boolean expression evaluator: the filter is longer than %d bytes", maxFilterLen)
	}
	ast, err := grammar.Parse("", []byte(expr))
	if err != nil {
		return nil, badRequestf("Failed to create boolean expression evaluator: %v", err)
	}
	if err := checkSelectors(ast.(grammar.Expression), reflect.TypeFor[T](), nil); err != nil {
		return nil, badRequestf("Failed to create boolean expression evaluator: %v", err)
	}
	ev, err := bexpr.CreateEvaluator(expr)
	if err != nil {
		return nil, badRequestf("Failed to create boolean expression evaluator: %v", err)
	}
	f := &filter[T]{ev: ev}
	// Evaluating over an empty element finds values that do not fit their
	// selector's type (Port == "web") even when the answer will be empty.
	var zero T
	if _, err := f.ev.Evaluate(zero); err != nil {
		return nil, badRequestf("Failed to apply filter: %v", err)
	}
	return f, nil
}

// match reports whether item passes; a nil filter passes everything.
func (f *filter[T]) match(item T) (bool, error) {
	if f == nil {
		return true, nil
	}
	ok, err := f.ev.Evaluate(item)
	if err != nil {
		return false, badRequestf("Failed to apply filter: %v", err)
	}
	return ok, nil
}

// apply keeps the items that pass, in order; never nil.
func (f *filter[T]) apply(items []T) ([]T, error) {
	if items == nil {
		items = []T{}
	}
	if f == nil {
		return items, nil
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		ok, err := f.match(it)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// checkSelectors walks a filter's syntax tree and checks every selector
// against t. Names bound by a collection expression ("any Checks as c")
// refer to elements and are left to evaluation.
func checkSelectors(e grammar.Expression, t reflect.Type, bound map[string]bool) error {
	switch e := e.(type) {
	case *grammar.UnaryExpression:
		return checkSelectors(e.Operand, t, bound)
	case *grammar.BinaryExpression:
		if err := checkSelectors(e.Left, t, bound); err != nil {
			return err
		}
		return checkSelectors(e.Right, t, bound)
	case *grammar.MatchExpression:
		leaf, err := checkSelector(t, e.Selector, bound)
		if err != nil {
			return err
		}
		return checkValue(e, leaf)
	case *grammar.CollectionExpression:
		if _, err := checkSelector(t, e.Selector, bound); err != nil {
			return err
		}
		inner := make(map[string]bool, len(bound)+2)
		for k := range bound {
			inner[k] = true
		}
		for _, name := range []string{e.NameBinding.Default, e.NameBinding.Index, e.NameBinding.Value} {
			if name != "" {
				inner[name] = true
			}
		}
		return checkSelectors(e.Inner, t, inner)
	}
	return nil
}

// checkSelector checks that sel names something in t — struct fields by
// name (not those tagged bexpr:"-"), any key of a map, a numeric index of a
// list — and returns the type it names (nil when that is not known).
func checkSelector(t reflect.Type, sel grammar.Selector, bound map[string]bool) (reflect.Type, error) {
	path := sel.Path
	if len(path) > 0 && bound[path[0]] {
		return nil, nil
	}
	for i, part := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := t.FieldByName(part)
			if !ok || !f.IsExported() || f.Tag.Get("bexpr") == "-" {
				return nil, fmt.Errorf("selector %q is not valid", sel.String())
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		case reflect.Slice, reflect.Array:
			if _, err := strconv.Atoi(part); err != nil {
				return nil, fmt.Errorf("selector %q is not valid: %s is a list; use an index or a collection expression (any/all)",
					sel.String(), strings.Join(path[:i], "."))
			}
			t = t.Elem()
		case reflect.Interface:
			return nil, nil
		default:
			return nil, fmt.Errorf("selector %q is not valid", sel.String())
		}
	}
	return t, nil
}

// checkValue checks that a match's value can be compared with what its
// selector names, so that a type error is reported even when evaluation
// would never reach that clause.
func checkValue(e *grammar.MatchExpression, t reflect.Type) error {
	if t == nil || e.Value == nil {
		return nil
	}
	sel, raw := e.Selector.String(), e.Value.Raw
	switch e.Operator {
	case grammar.MatchIn, grammar.MatchNotIn, grammar.MatchContains, grammar.MatchNotContains:
		switch t.Kind() {
		case reflect.Slice, reflect.Array:
			t = t.Elem()
		case reflect.Map:
			t = t.Key()
		case reflect.String:
			return nil
		default:
			return fmt.Errorf("selector %q is not a list, a map or a string", sel)
		}
	case grammar.MatchMatches, grammar.MatchNotMatches:
		if t.Kind() != reflect.String {
			return fmt.Errorf("selector %q is not a string and cannot be matched", sel)
		}
		if _, err := regexp.Compile(raw); err != nil {
			return fmt.Errorf("invalid regular expression %q: %w", raw, err)
		}
		return nil
	}
	var err error
	switch t.Kind() {
	case reflect.Bool:
		_, err = strconv.ParseBool(raw)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = strconv.ParseInt(raw, 0, 64)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = strconv.ParseUint(raw, 0, 64)
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(raw, 64)
	}
	if err != nil {
		return fmt.Errorf("value %q does not fit selector %q of type %s", raw, sel, t.Kind())
	}
	return nil
}
