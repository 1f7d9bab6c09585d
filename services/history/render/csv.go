package render

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"tsbank/contract"
)

// Types of the two balance rows that StatementCSV appends after the transactions. They are not
// transaction types; a reader of a statement export tells them apart by these values.
const (
	TypeOpeningBalance = "opening_balance"
	TypeClosingBalance = "closing_balance"
)

// csvHeader is the first record of every export. It names the fields after their JSON names so
// that the CSV and JSON formats of the same reply read alike.
var csvHeader = []string{
	"event_id", "account", "type", "amount", "currency", "balance_after", "at",
	"description", "transfer_id", "counterparty", "node",
	// A cross-currency transfer's exchange; empty on every other row.
	"quote", "rate", "from_amount", "from_currency", "to_amount", "to_currency",
}

// PageCSV renders the rows of a history page as RFC 4180 CSV (CRLF line endings, fields quoted
// where needed) with a header row. Amounts and balances are the exact decimal strings of the
// reply, and "at" is RFC 3339 with nanoseconds in UTC, so ParseCSV gives back the same rows.
//
// There is deliberately no totals row and no next-page cursor: every record after the header is
// a transaction, so a spreadsheet can sum the amount column and a script can read the file
// without special cases. The totals are in the JSON and table formats; the cursor of the next
// page is in the reply's contract.NextCursorHeader, whatever the format.
//
// RFC 4180 ends lines with CRLF, and encoding/csv writes a newline inside a field as CRLF too;
// reading turns that back into a newline. A carriage return inside a description therefore
// does not survive the round trip: "\r\n" reads back as "\n" and a lone "\r" is dropped.
//
// Text cells that a spreadsheet would run as a formula are neutralised (see neutralise): a
// description such as =HYPERLINK(…) arrives as '=HYPERLINK(…), which a spreadsheet shows as text.
// Amounts and balances are not text and are left as they are, so "-25.50" stays a number.
func PageCSV(p contract.HistoryPage) []byte {
	return writeCSV(p.Rows)
}

// StatementCSV renders a statement as the same header and rows as PageCSV, followed by two
// balance rows, so the file stays plain RFC 4180 with one record shape and no comment lines:
//
//   - type opening_balance, balance_after the opening balance, at the start of the period (From);
//   - type closing_balance, balance_after the closing balance, at the end of the period (To).
//
// Both have the statement's account and currency and leave every other field empty. The
// balances come last so that the transactions sit at the same records as in a page export.
// ParseCSV returns them as rows like the others; TypeOpeningBalance and TypeClosingBalance
// tell them apart.
func StatementCSV(s contract.Statement) []byte {
	rows := make([]contract.HistoryRow, 0, len(s.Rows)+2)
	rows = append(rows, s.Rows...)
	rows = append(rows,
		contract.HistoryRow{
			Account: s.Account, Type: TypeOpeningBalance, Currency: s.Currency,
			BalanceAfter: s.OpeningBalance, At: s.From,
		},
		contract.HistoryRow{
			Account: s.Account, Type: TypeClosingBalance, Currency: s.Currency,
			BalanceAfter: s.ClosingBalance, At: s.To,
		},
	)
	return writeCSV(rows)
}

func writeCSV(rows []contract.HistoryRow) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	// The errors of Write and Flush are ignored: they come only from the underlying writer,
	// and a bytes.Buffer never fails (it panics if it cannot grow).
	_ = w.Write(csvHeader)
	n := neutralise
	for _, r := range rows {
		var x contract.Exchange
		if r.Exchange != nil {
			x = *r.Exchange
		}
		// The exchange's amounts and rate are numbers made by the bank, left as they are.
		_ = w.Write([]string{
			n(r.EventID), n(r.Account), n(r.Type), r.Amount, n(r.Currency), r.BalanceAfter,
			r.At.UTC().Format(time.RFC3339Nano),
			n(r.Description), n(r.TransferID), n(r.Counterparty), n(r.Node),
			n(x.Quote), x.Rate, x.FromAmount, n(x.FromCurrency), x.ToAmount, n(x.ToCurrency),
		})
	}
	w.Flush()
	return b.Bytes()
}

// neutralise applies OWASP's rule against CSV injection to a text cell: a cell that starts with
// = + - @, a tab or a carriage return is run as a formula by spreadsheets (=HYPERLINK(…) sends the
// reader to a site of the writer's choice, -2+3 computes), so it gets a leading apostrophe, which
// spreadsheets take as "this cell is text". A cell that already starts with an apostrophe gets one
// more, so that restore can always remove exactly one and every cell reads back as it was.
//
// Only text columns are neutralised: the description is the client's free text, and ids may start
// with "-". The amount and balance columns are never touched: they are exact decimal strings made
// by the service, and a negative amount must stay a number in a spreadsheet, not become text.
func neutralise(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

// restore undoes neutralise.
func restore(s string) string {
	return strings.TrimPrefix(s, "'")
}

// ParseCSV reads an export written by PageCSV or StatementCSV back into rows, removing the
// apostrophe that neutralise put before a text cell. It requires the exact header of those
// functions, so a file of another shape, or one whose columns were reordered in a spreadsheet,
// fails loudly instead of filling the wrong fields. A leading
// UTF-8 byte order mark, which spreadsheets add when they save CSV, is ignored. Times are
// returned in UTC. A file with only the header gives an empty, non-nil slice.
func ParseCSV(data []byte) ([]contract.HistoryRow, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("parse history csv: empty input, want a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("parse history csv: %w", err)
	}
	if !slices.Equal(header, csvHeader) {
		return nil, fmt.Errorf("parse history csv: header is %q, want %q", header, csvHeader)
	}

	rows := []contract.HistoryRow{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			// csv errors already name the line, and the reader enforces the header's field count.
			return nil, fmt.Errorf("parse history csv: %w", err)
		}
		at, err := time.Parse(time.RFC3339Nano, rec[6])
		if err != nil {
			line, _ := r.FieldPos(6)
			return nil, fmt.Errorf("parse history csv: line %d: at: %w", line, err)
		}
		var x *contract.Exchange
		if rec[11] != "" {
			x = &contract.Exchange{Quote: restore(rec[11]), Rate: rec[12], FromAmount: rec[13], FromCurrency: restore(rec[14]),
				ToAmount: rec[15], ToCurrency: restore(rec[16])}
		}
		rows = append(rows, contract.HistoryRow{
			Exchange:     x,
			EventID:      restore(rec[0]),
			Account:      restore(rec[1]),
			Type:         restore(rec[2]),
			Amount:       rec[3],
			Currency:     restore(rec[4]),
			BalanceAfter: rec[5],
			At:           at.UTC(),
			Description:  restore(rec[7]),
			TransferID:   restore(rec[8]),
			Counterparty: restore(rec[9]),
			Node:         restore(rec[10]),
		})
	}
}
