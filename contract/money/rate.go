package money

import (
	"fmt"
	"math/big"
	"strings"
)

// Rate is an exchange rate: how many units of one currency buy one unit of another, as an exact
// decimal ("162.5" yen for a euro). It is kept as an integer count of 10^-Scale, never a float.
type Rate struct {
	units *big.Int // the rate times 10^scale
	scale int
}

// Bounds of a rate: enough for any pair of the currency table (a dinar is about 600 000 dong,
// a dong 0.00004 dinar), small enough that a product with the largest amount stays exact.
const (
	MaxRateDecimals = 12
	maxRateWhole    = 9
)

// ParseRate reads a positive decimal rate such as "1.0842" or "162.5": digits, one optional
// decimal point, at most 9 digits before it and 12 after, greater than zero.
func ParseRate(s string) (Rate, error) {
	bad := func(reason string) (Rate, error) { return Rate{}, fmt.Errorf("rate %q: %s", s, reason) }
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return bad(`digits are needed on both sides of the decimal point, as in "0.0061"`)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return bad(`only digits and one decimal point are allowed, as in "1.0842" (no sign, exponent or separator)`)
		}
	}
	whole = strings.TrimLeft(whole, "0")
	frac = strings.TrimRight(frac, "0")
	switch {
	case len(whole) > maxRateWhole:
		return bad(fmt.Sprintf("at most %d digits before the decimal point", maxRateWhole))
	case len(frac) > MaxRateDecimals:
		return bad(fmt.Sprintf("at most %d decimals", MaxRateDecimals))
	}
	units, _ := new(big.Int).SetString("0"+whole+frac, 10) // digits only: always parses
	if units.Sign() == 0 {
		return bad("must be greater than zero")
	}
	return Rate{units: units, scale: len(frac)}, nil
}

// String writes the rate canonically: no leading zeros before the point but one, no trailing
// zeros after it, no point for a whole rate ("162.5", "0.0061", "150").
func (r Rate) String() string {
	digits := fmt.Sprintf("%0*s", r.scale+1, r.units.String())
	if r.scale == 0 {
		return digits
	}
	cut := len(digits) - r.scale
	return digits[:cut] + "." + digits[cut:]
}

// Convert turns amount (minor units of from) into minor units of to at rate r (units of to per
// unit of from). The rounding rule: the exact product is rounded toward zero to to's minor unit,
// so the payee is credited at most the exact value and any fraction stays with the bank; the
// result is exact, computed on integers. A result of zero (too small an amount to buy one minor
// unit of to) or above MaxMinor is an error.
func Convert(amount int64, from, to Currency, r Rate) (int64, error) {
	// amount/10^from.Exp × units/10^scale major units of to, in minor units of to:
	// amount × units × 10^to.Exp / 10^(from.Exp + scale), rounded toward zero.
	num := new(big.Int).Mul(big.NewInt(amount), r.units)
	num.Mul(num, pow10(to.Exponent))
	q := new(big.Int).Quo(num, pow10(from.Exponent+r.scale))
	switch {
	case q.Sign() == 0:
		return 0, &ParseError{Input: Format(amount, from), Reason: fmt.Sprintf("too small: at %s it buys less than one minor unit of %s", r, to.Code)}
	case !q.IsInt64() || q.Int64() > MaxMinor:
		return 0, &ParseError{Input: Format(amount, from), Reason: fmt.Sprintf("too large: at %s it is more than %s %s", r, Format(MaxMinor, to), to.Code), tooLarge: true}
	}
	return q.Int64(), nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }
