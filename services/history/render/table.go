package render

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"tsbank/contract"
)

// tableTime is the layout of timestamps in tables: seconds are enough for a person, and the
// exact instant is in the CSV and JSON formats.
const tableTime = "2006-01-02 15:04:05"

// noRows stands in for the rows, the closing separator and the totals of an empty table, so an
// empty result reads as "nothing matched" rather than as a truncated reply.
const noRows = "(no transactions)"

type column struct {
	name string
	// right aligns the column to the right so that the decimal points of amounts line up.
	right bool
	value func(contract.HistoryRow) string
}

var columns = []column{
	{name: "at", value: func(r contract.HistoryRow) string { return r.At.UTC().Format(tableTime) }},
	{name: "type", value: func(r contract.HistoryRow) string { return r.Type }},
	{name: "amount", right: true, value: func(r contract.HistoryRow) string { return r.Amount }},
	{name: "balance", right: true, value: func(r contract.HistoryRow) string { return r.BalanceAfter }},
	{name: "description", value: func(r contract.HistoryRow) string { return r.Description }},
	{name: "counterparty", value: func(r contract.HistoryRow) string { return r.Counterparty }},
	// The transfer id is shown whole, however long: a person copies it into a transfer
	// lookup, and a truncated id is useless for that.
	{name: "transfer", value: func(r contract.HistoryRow) string { return r.TransferID }},
}

// exchangeColumn is added to a table with a row of a cross-currency transfer, and only then, so
// that other tables stay as narrow as they were.
var exchangeColumn = column{name: "exchange", value: func(r contract.HistoryRow) string {
	x := r.Exchange
	if x == nil {
		return ""
	}
	return fmt.Sprintf("%s %s -> %s %s at %s, quote %s", x.FromAmount, x.FromCurrency, x.ToAmount, x.ToCurrency, x.Rate, x.Quote)
}}

// PageTable renders a history page as an aligned plain-text table:
//
//	Account alice (EUR)
//	| at                  | type    |  amount | balance | description | counterparty | transfer |
//	|---------------------|---------|---------|---------|-------------|--------------|----------|
//	| 2026-01-05 09:30:00 | deposit |  250.00 |  300.00 | Salary      |              |          |
//	|---------------------|---------|---------|---------|-------------|--------------|----------|
//	totals of this 1 row only (this page, not the account's or the whole filter's): in 250.00, out 0.00, net 250.00
//	next: <cursor>
//
// Every header, separator and row line has the same width in runes. Times are in UTC. An empty
// page shows "(no transactions)" after the header instead of rows and totals. The totals say
// that they are the page's: on the first page of an unfiltered history their net reads like the
// account's balance, and it is not. The "next" line appears only when there is a next page, so
// that the cursor can be copied into the next query.
func PageTable(p contract.HistoryPage) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Account %s (%s)\n", clean(p.Account), clean(p.Currency))
	if writeTableBody(&b, p.Rows) {
		writeTotals(&b, pageTotals(len(p.Rows)), p.Totals)
	}
	if p.Next != "" {
		fmt.Fprintf(&b, "next: %s\n", clean(p.Next))
	}
	return b.Bytes()
}

// StatementTable renders a statement: a title with the period [From, To) in UTC, the opening
// balance, the rows as in PageTable, the closing balance and the totals. The two balances are
// right-aligned with each other so they can be compared at a glance.
func StatementTable(s contract.Statement) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Statement %s (%s) %s to %s\n", clean(s.Account), clean(s.Currency),
		s.From.UTC().Format(tableTime), s.To.UTC().Format(tableTime))
	opening, closing := clean(s.OpeningBalance), clean(s.ClosingBalance)
	w := max(width(opening), width(closing))
	fmt.Fprintf(&b, "Opening balance  %s\n", pad(opening, w, true))
	// The totals go after the closing balance, so the table itself is written without them.
	hasRows := writeTableBody(&b, s.Rows)
	fmt.Fprintf(&b, "Closing balance  %s\n", pad(closing, w, true))
	if hasRows {
		writeTotals(&b, periodTotals(len(s.Rows)), s.Totals)
	}
	return b.Bytes()
}

// pageTotals and periodTotals label the totals line of a page and of a statement.
func pageTotals(n int) string {
	return fmt.Sprintf("totals of %s only (this page, not the account's or the whole filter's)", rowsOf(n, "this", "these"))
}

func periodTotals(n int) string {
	return fmt.Sprintf("totals of the period (%s)", rowsOf(n, "its", "all"))
}

// rowsOf is "this 1 row" or "these 3 rows".
func rowsOf(n int, one, many string) string {
	if n == 1 {
		return one + " 1 row"
	}
	return fmt.Sprintf("%s %d rows", many, n)
}

// writeTableBody writes the header, a separator, the rows and a closing separator, or the
// header, a separator and noRows when there are no rows. It reports whether there were rows.
func writeTableBody(b *bytes.Buffer, rows []contract.HistoryRow) bool {
	columns := columns
	for _, r := range rows {
		if r.Exchange != nil {
			columns = append(columns[:len(columns):len(columns)], exchangeColumn)
			break
		}
	}
	// Cells are computed once, cleaned, so that the widths are measured on the text that is
	// actually printed.
	cells := make([][]string, len(rows))
	widths := make([]int, len(columns))
	for i, c := range columns {
		widths[i] = width(c.name)
	}
	for r, row := range rows {
		cells[r] = make([]string, len(columns))
		for i, c := range columns {
			v := clean(c.value(row))
			cells[r][i] = v
			widths[i] = max(widths[i], width(v))
		}
	}

	header := make([]string, len(columns))
	for i, c := range columns {
		header[i] = c.name
	}
	writeLine(b, columns, header, widths)
	writeSeparator(b, widths)
	if len(rows) == 0 {
		b.WriteString(noRows + "\n")
		return false
	}
	for _, line := range cells {
		writeLine(b, columns, line, widths)
	}
	writeSeparator(b, widths)
	return true
}

func writeLine(b *bytes.Buffer, columns []column, cells []string, widths []int) {
	b.WriteString("|")
	for i, c := range columns {
		b.WriteString(" ")
		b.WriteString(pad(cells[i], widths[i], c.right))
		b.WriteString(" |")
	}
	b.WriteString("\n")
}

func writeSeparator(b *bytes.Buffer, widths []int) {
	b.WriteString("|")
	for _, w := range widths {
		// Two more dashes than the width cover the spaces on both sides of each cell.
		b.WriteString(strings.Repeat("-", w+2))
		b.WriteString("|")
	}
	b.WriteString("\n")
}

func writeTotals(b *bytes.Buffer, label string, t contract.HistoryTotals) {
	fmt.Fprintf(b, "%s: in %s, out %s, net %s\n", label, clean(t.In), clean(t.Out), clean(t.Net))
}

// pad pads s with spaces to w runes, on the left when right is true.
func pad(s string, w int, right bool) string {
	fill := strings.Repeat(" ", max(0, w-width(s)))
	if right {
		return fill + s
	}
	return s + fill
}

// width is the display width of s, taken as its rune count. That is exact for the Latin,
// Greek and Cyrillic text of descriptions in precomposed form (é is one rune), which is what
// this bank sees; East Asian wide characters, emoji and decomposed accents would be off by a
// column or so, which costs some alignment but never content. clean has already turned
// zero-width format characters into spaces, so they do not make a cell look shorter than
// counted.
func width(s string) int {
	return utf8.RuneCountInString(s)
}

// clean makes s safe to print in one table cell. Control characters (tabs, newlines, carriage
// returns, escape sequences), line and paragraph separators and invisible format characters
// (zero-width spaces, bidirectional overrides that could visually reorder the columns of a
// line) would break the layout or mislead the reader, so each becomes one space. Invalid UTF-8
// becomes U+FFFD, because ranging over a string yields RuneError for each bad byte.
func clean(s string) string {
	dirty := !utf8.ValidString(s)
	for _, r := range s {
		if isUnprintable(r) {
			dirty = true
			break
		}
	}
	if !dirty {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isUnprintable(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isUnprintable(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}
