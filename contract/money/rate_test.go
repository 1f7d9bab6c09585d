package money

import (
	"errors"
	"testing"
)

func TestParseRateIsExactAndCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"162.5": "162.5", "162.50": "162.5", "007.25": "7.25", "0.0061": "0.0061", "150": "150", "150.000": "150",
		"1.000000000000000": "1", "0.000000000001": "0.000000000001", "999999999.5": "999999999.5",
	} {
		r, err := ParseRate(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
}

func TestParseRateRefusesWhatIsNotAPositiveDecimal(t *testing.T) {
	for _, in := range []string{"", "0", "0.000", "-1", "+1", "1e3", "1,5", " 1", ".5", "5.", "1.2.3",
		"0.0000000000001", "1000000000", "NaN"} {
		if r, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, r)
		}
	}
}

// TestConvertRoundsTowardZeroToThePayeeCurrency pins the rounding rule of ADR 0035: the credited
// amount is the exact product rounded toward zero to the payee currency's minor unit, whatever
// the two currencies' exponents.
func TestConvertRoundsTowardZeroToThePayeeCurrency(t *testing.T) {
	eur, _ := LookupCurrency("EUR")
	usd, _ := LookupCurrency("USD")
	jpy, _ := LookupCurrency("JPY")
	kwd, _ := LookupCurrency("KWD")
	cases := []struct {
		name     string
		amount   string
		from, to Currency
		rate     string
		want     string
	}{
		{"exact", "10.00", eur, jpy, "162.5", "1625"},
		{"a half yen is kept by the bank", "10.01", eur, jpy, "162.5", "1626"}, // 1626.625
		{"just below a whole yen rounds down", "0.07", eur, jpy, "14.2857", "0"},
		{"two to two decimals", "1.00", eur, usd, "1.0842", "1.08"},     // 1.0842
		{"never up, even at .999", "9.99", usd, eur, "0.9999", "9.98"},  // 9.989001
		{"zero decimals to two", "1000", jpy, eur, "0.006153", "6.15"},  // 6.153
		{"three decimals to zero", "1.000", kwd, jpy, "486.123", "486"}, // 486.123
		{"zero decimals to three", "1", jpy, kwd, "0.002057", "0.002"},  // 0.002057
		{"the smallest amount that buys a unit", "0.01", eur, jpy, "100", "1"},
		{"the largest amount at rate one", Format(MaxMinor, eur), eur, usd, "1", Format(MaxMinor, usd)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := Parse(c.amount, c.from)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRate(c.rate)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Convert(n, c.from, c.to, r)
			if c.want == "0" {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("Convert = %d, %v; want a ParseError: too small", got, err)
				}
				return
			}
			if err != nil || Format(got, c.to) != c.want {
				t.Fatalf("Convert(%s %s at %s) = %s, %v; want %s %s", c.amount, c.from.Code, c.rate, Format(got, c.to), err, c.want, c.to.Code)
			}
		})
	}
}

func TestConvertRefusesAResultAboveTheMaximum(t *testing.T) {
	eur, _ := LookupCurrency("EUR")
	jpy, _ := LookupCurrency("JPY")
	r, _ := ParseRate("162.5")
	if got, err := Convert(MaxMinor, eur, jpy, r); err == nil {
		t.Fatalf("Convert(max EUR to JPY) = %d, want too large", got)
	}
}
