package metrics

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// vec is the label-to-series map shared by every kind of family.
type vec[T any] struct {
	name       string
	help       string
	labelNames []string
	newChild   func() *T

	mu sync.RWMutex
	// children finds a series by its encoded label values. More than one
	// key may lead to the same entry when label values had invalid UTF-8
	// and were cleaned to the same text.
	children map[string]*entry[T]
	// entries lists each series once, for writing.
	entries []*entry[T]
}

type entry[T any] struct {
	values []string
	child  *T
}

func newVec[T any](name, help string, labelNames []string, newChild func() *T) *vec[T] {
	checkLabelNames(name, labelNames)
	v := &vec[T]{
		name:       name,
		help:       help,
		labelNames: slices.Clone(labelNames),
		newChild:   newChild,
		children:   make(map[string]*entry[T]),
	}
	if len(labelNames) == 0 {
		// An unlabelled family has exactly one series; create it now so
		// that it is exposed as 0 before its first use, which lets rate()
		// see the first increment.
		v.with(nil)
	}
	return v
}

func (v *vec[T]) familyName() string { return v.name }

// with returns the series for the label values, creating it on first use.
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labelNames) {
		// The copy keeps values itself from escaping into the panic
		// message, which would make every caller's variadic slice a heap
		// allocation.
		panic(fmt.Sprintf("metrics: %q has %d label names %q but got %d values %q",
			v.name, len(v.labelNames), v.labelNames, len(values), slices.Clone(values)))
	}
	// The key is built in a stack buffer and looked up as string(key),
	// which the compiler does without copying, so finding an existing
	// series does not allocate.
	var buf [128]byte
	key := appendKey(buf[:0], values)
	v.mu.RLock()
	e, ok := v.children[string(key)]
	v.mu.RUnlock()
	if ok {
		return e.child
	}
	return v.create(key, values)
}

// create is the slow path of with, kept apart so with stays small.
func (v *vec[T]) create(key []byte, values []string) *T {
	clean := make([]string, len(values))
	for i, s := range values {
		clean[i] = strings.ToValidUTF8(s, "\uFFFD")
	}
	cleanKey := string(appendKey(nil, clean))

	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.children[string(key)]; ok {
		return e.child
	}
	e, ok := v.children[cleanKey]
	if !ok {
		e = &entry[T]{values: clean, child: v.newChild()}
		v.children[cleanKey] = e
		v.entries = append(v.entries, e)
	}
	v.children[string(key)] = e
	return e.child
}

// appendKey encodes label values with a length before each, so that no two
// different value lists share a key whatever bytes the values contain.
func appendKey(b []byte, values []string) []byte {
	for _, s := range values {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// sorted returns a snapshot of the series ordered by label values.
func (v *vec[T]) sorted() []*entry[T] {
	v.mu.RLock()
	es := slices.Clone(v.entries)
	v.mu.RUnlock()
	slices.SortFunc(es, func(a, b *entry[T]) int { return slices.Compare(a.values, b.values) })
	return es
}

// appendSample writes one sample line: name, labels (with an optional
// extra label, used for a histogram's "le"), and value.
func appendSample(b []byte, name string, labelNames, values []string, extraName, extraValue string, value float64) []byte {
	b = append(b, name...)
	if len(labelNames) > 0 || extraName != "" {
		b = append(b, '{')
		for i, ln := range labelNames {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, ln...)
			b = append(b, `="`...)
			b = appendEscaped(b, values[i], true)
			b = append(b, '"')
		}
		if extraName != "" {
			if len(labelNames) > 0 {
				b = append(b, ',')
			}
			b = append(b, extraName...)
			b = append(b, `="`...)
			b = append(b, extraValue...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, value)
	return append(b, '\n')
}

// appendFloat formats a value as Prometheus parses it: the shortest decimal
// that round-trips, and +Inf, -Inf and NaN spelled out.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// checkMetricName panics unless name matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func checkMetricName(name string) {
	if !validName(name, true) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
}

// checkLabelNames panics on a malformed, reserved or repeated label name.
func checkLabelNames(metric string, names []string) {
	for i, n := range names {
		if !validName(n, false) || strings.HasPrefix(n, "__") {
			panic(fmt.Sprintf("metrics: %q has invalid label name %q", metric, n))
		}
		if slices.Contains(names[:i], n) {
			panic(fmt.Sprintf("metrics: %q repeats label name %q", metric, n))
		}
	}
}

func validName(s string, colon bool) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == ':' && colon:
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
