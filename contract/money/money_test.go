package money

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	eur, _ := LookupCurrency("EUR")
	jpy, _ := LookupCurrency("JPY")
	bhd, _ := LookupCurrency("BHD")
	ok := []struct {
		in   string
		c    Currency
		want int64
	}{
		{"12.50", eur, 1250}, {"12.5", eur, 1250}, {"12", eur, 1200}, {"0.01", eur, 1},
		{"007.10", eur, 710}, {"500", jpy, 500}, {"1.234", bhd, 1234},
		{"10000000000000.00", eur, MaxMinor},
	}
	for _, tc := range ok {
		t.Run("accepts "+tc.in+" "+tc.c.Code, func(t *testing.T) {
			got, err := Parse(tc.in, tc.c)
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
	bad := []struct {
		in string
		c  Currency
	}{
		{"", eur}, {"0", eur}, {"0.00", eur}, {"-1", eur}, {"+1", eur}, {"1e3", eur}, {"1.005", eur},
		{"1.5", jpy}, {".5", eur}, {"5.", eur}, {"1,50", eur}, {" 1", eur}, {"1.2.3", eur},
		{"NaN", eur}, {"10000000000000.01", eur}, {"99999999999999999999", eur},
	}
	for _, tc := range bad {
		t.Run("refuses "+tc.in+" "+tc.c.Code, func(t *testing.T) {
			got, err := Parse(tc.in, tc.c)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %d, %v; want a ParseError", tc.in, got, err)
			}
		})
	}
}

func TestParseNonNegativeAcceptsZeroAndRefusesWhatParseRefusesOtherwise(t *testing.T) {
	eur, _ := LookupCurrency("EUR")
	for in, want := range map[string]int64{"0": 0, "0.00": 0, "50.00": 5000} {
		if got, err := ParseNonNegative(in, eur); err != nil || got != want {
			t.Errorf("ParseNonNegative(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "0.001", "10000000000000.01"} {
		if got, err := ParseNonNegative(in, eur); err == nil {
			t.Errorf("ParseNonNegative(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatRoundTrips(t *testing.T) {
	for _, code := range []string{"EUR", "JPY", "BHD"} {
		c, _ := LookupCurrency(code)
		for _, n := range []int64{1, 9, 10, 99, 100, 101, 123456789, MaxMinor} {
			s := Format(n, c)
			back, err := Parse(s, c)
			if err != nil || back != n {
				t.Fatalf("%s: Format(%d) = %q, parses back to %d, %v", code, n, s, back, err)
			}
			if neg := Format(-n, c); neg != "-"+s {
				t.Fatalf("%s: Format(%d) = %q, want %q", code, -n, neg, "-"+s)
			}
		}
	}
	if got := Format(0, Currency{"EUR", 2}); got != "0.00" {
		t.Fatalf("Format(0) = %q", got)
	}
}

func TestLookupCurrencyRefusesUnknownCodes(t *testing.T) {
	for _, code := range []string{"", "eur", "EURO", "XXX"} {
		if _, err := LookupCurrency(code); !errors.Is(err, ErrUnknownCurrency) {
			t.Errorf("LookupCurrency(%q) = %v, want ErrUnknownCurrency", code, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"12.50", "0.01", "-1", "1e9", "1.005", "99999999999999999999"} {
		f.Add(s)
	}
	eur, _ := LookupCurrency("EUR")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s, eur)
		if err != nil {
			return
		}
		if n <= 0 || n > MaxMinor {
			t.Fatalf("Parse(%q) = %d out of range", s, n)
		}
		if back, err := Parse(Format(n, eur), eur); err != nil || back != n {
			t.Fatalf("Parse(%q) = %d does not round-trip: %d, %v", s, n, back, err)
		}
	})
}

// TestTooLargeAlwaysSaysTheMaximum pins that both ways of being too large (more whole digits than
// any amount has, or just over the bound) name the maximum in the currency, where the first said
// only "too large".
func TestTooLargeAlwaysSaysTheMaximum(t *testing.T) {
	for _, tc := range []struct{ code, in, want string }{
		{"EUR", "99999999999999999999", "too large: the maximum is 10000000000000.00 EUR"},
		{"EUR", "10000000000000.01", "too large: the maximum is 10000000000000.00 EUR"},
		{"JPY", "1000000000000001", "too large: the maximum is 1000000000000000 JPY"},
		{"BHD", "1000000000000.001", "too large: the maximum is 1000000000000.000 BHD"},
	} {
		c, _ := LookupCurrency(tc.code)
		if _, err := Parse(tc.in, c); err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("Parse(%q, %s) = %v, want it to end %q", tc.in, tc.code, err, tc.want)
		}
	}
}

func TestCheckSyntax(t *testing.T) {
	// Size is left to Parse in the account's currency, whose maximum CheckSyntax does not know.
	for s, ok := range map[string]bool{"1": true, "0.5": true, "1.234": true, "1.2345": false, "-1": false, "0": false, "x": false,
		"99999999999999999999": true, "1.00000": false} {
		if err := CheckSyntax(s); (err == nil) != ok {
			t.Errorf("CheckSyntax(%q) = %v, want ok=%v", s, err, ok)
		}
	}
}

// TestParseBalanceReadsWhatFormatWrites pins a bug: reconciliation read a node's balance with
// Parse, so every account at 0.00 (and every overdrawn one) was reported as a difference.
func TestParseBalanceReadsWhatFormatWrites(t *testing.T) {
	eur, _ := LookupCurrency("EUR")
	for _, n := range []int64{0, 1, -1, 1250, -305, MaxMinor, -MaxMinor} {
		got, err := ParseBalance(Format(n, eur), eur)
		if err != nil || got != n {
			t.Errorf("ParseBalance(%q) = %d, %v; want %d", Format(n, eur), got, err, n)
		}
	}
	for _, bad := range []string{"", "-0.00", "--1.00", "+1.00", "1.234", "-", "abc"} {
		if _, err := ParseBalance(bad, eur); err == nil {
			t.Errorf("ParseBalance(%q) accepted", bad)
		}
	}
}
