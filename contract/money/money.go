// Package money converts between wire amounts (decimal strings such as "12.50") and integer
// minor units, checked against the ISO 4217 exponent of the account's currency. Floats are never
// involved: a float cannot hold 0.10 exactly, and a bank must.
package money

import (
	"errors"
	"fmt"
	"strings"
)

// Currency is an ISO 4217 currency and the number of digits after its decimal point.
type Currency struct {
	Code     string
	Exponent int
}

// currencies lists the ISO 4217 codes TSBank accepts. It is a subset: adding a code is a
// one-line change, and refusing an unknown code is safer than guessing its exponent.
var currencies = map[string]int{
	"AED": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2,
	"CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
	"ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2,
	"OMR": 3, "PHP": 2, "PLN": 2, "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3,
	"TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "VND": 0, "ZAR": 2,
}

// MaxMinor bounds every amount and balance (10^15 minor units, a quadrillion cents) so that sums of
// many amounts stay far from int64 overflow.
const MaxMinor int64 = 1_000_000_000_000_000

// ErrUnknownCurrency is returned for a code that is not in the ISO 4217 table above.
var ErrUnknownCurrency = errors.New("unknown currency")

// LookupCurrency returns the currency for an upper-case ISO 4217 code.
func LookupCurrency(code string) (Currency, error) {
	exp, ok := currencies[code]
	if !ok {
		return Currency{}, fmt.Errorf("%w %q: send an ISO 4217 code such as \"EUR\", \"USD\" or \"JPY\"", ErrUnknownCurrency, code)
	}
	return Currency{Code: code, Exponent: exp}, nil
}

// ParseError says why an amount string was refused.
type ParseError struct {
	Input  string
	Reason string
	// tooLarge: the form is right and only the size is not, which CheckSyntax cannot judge.
	tooLarge bool
}

func (e *ParseError) Error() string { return fmt.Sprintf("amount %q: %s", e.Input, e.Reason) }

// Parse reads a positive decimal amount such as "12.50" in currency c and returns minor units.
// It refuses signs, exponents, spaces, more decimals than the currency has, zero, and amounts
// above MaxMinor.
func Parse(s string, c Currency) (int64, error) { return parse(s, c, false) }

// ParseNonNegative is Parse allowing zero ("0.00"), for a limit rather than an amount moved.
func ParseNonNegative(s string, c Currency) (int64, error) { return parse(s, c, true) }

// ParseBalance reads a balance as Format writes it: zero, or negative ("-3.05") for an account in
// its overdraft. Amounts moved are never read with it.
func ParseBalance(s string, c Currency) (int64, error) {
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		n, err := parse(rest, c, false)
		return -n, err
	}
	return parse(s, c, true)
}

func parse(s string, c Currency, zeroAllowed bool) (int64, error) {
	bad := func(reason string) (int64, error) { return 0, &ParseError{Input: s, Reason: reason} }
	if s == "" {
		return bad("missing: send a decimal string such as \"12.50\"")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return bad("digits are needed on both sides of the decimal point, as in \"0.50\"")
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return bad("only digits and one decimal point are allowed, as in \"12.50\" (no sign, exponent or separator)")
			}
		}
	}
	if len(frac) > c.Exponent {
		if c.Exponent == 0 {
			return bad(fmt.Sprintf("%s has no minor unit: send a whole number", c.Code))
		}
		return bad(fmt.Sprintf("%s allows at most %d decimals", c.Code, c.Exponent))
	}
	tooLarge := func() (int64, error) {
		return 0, &ParseError{Input: s, Reason: fmt.Sprintf("too large: the maximum is %s %s", Format(MaxMinor, c), c.Code), tooLarge: true}
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 16 {
		return tooLarge()
	}
	var n int64
	for _, r := range whole + frac + strings.Repeat("0", c.Exponent-len(frac)) {
		n = n*10 + int64(r-'0')
	}
	if n == 0 && !zeroAllowed {
		return bad("must be greater than zero")
	}
	if n > MaxMinor {
		return tooLarge()
	}
	return n, nil
}

// Format writes minor units as a decimal string with exactly the currency's decimals ("-3.05").
func Format(minor int64, c Currency) string {
	sign := ""
	u := uint64(minor)
	if minor < 0 {
		sign = "-"
		u = uint64(-minor)
	}
	digits := fmt.Sprintf("%0*d", c.Exponent+1, u)
	if c.Exponent == 0 {
		return sign + digits
	}
	cut := len(digits) - c.Exponent
	return sign + digits[:cut] + "." + digits[cut:]
}

// maxExponent is the largest exponent in the currency table.
const maxExponent = 3

// CheckSyntax checks that s is a positive decimal amount in some currency, before the currency
// is known. It does not judge the size: the maximum depends on the currency's decimals, and a
// "too large" that named another currency's maximum would mislead; Parse in the account's
// currency says it, with that currency's maximum.
func CheckSyntax(s string) error {
	_, err := Parse(s, Currency{Code: "any currency", Exponent: maxExponent})
	var pe *ParseError
	if errors.As(err, &pe) && pe.tooLarge {
		return nil
	}
	return err
}
