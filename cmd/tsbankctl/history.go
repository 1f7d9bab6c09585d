package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
)

// historyExport runs `tsbankctl history-export <account> [QUERY]`: every row of the account's
// history that QUERY's filters select (a bank.history.<account>.query body; sort and order as
// there), as one CSV file on out. It asks for pages of CSV and follows the cursor each page that
// is not the last carries in its Tsbank-Next-Cursor header, writing the header row once.
//
// It connects as NATS_USER with the inbox prefix _INBOX_<user>, the only one a customer may use,
// so a customer exports their own accounts with their own credentials.
func historyExport(args []string, out io.Writer) error {
	const usage = `usage: tsbankctl history-export <account> ['{"type":["deposit"],"from":"2026-01-01",...}']`
	if len(args) < 1 || len(args) > 2 {
		return errors.New(usage)
	}
	account := args[0]
	var q contract.HistoryQuery
	if len(args) == 2 {
		d := json.NewDecoder(strings.NewReader(args[1]))
		d.DisallowUnknownFields()
		if err := d.Decode(&q); err != nil {
			return fmt.Errorf("the query %s: %w (%s)", args[1], err, usage)
		}
	}
	if q.Format != "" && q.Format != contract.FormatCSV {
		return fmt.Errorf("the export is CSV: leave out format %q", q.Format)
	}
	q.Format = contract.FormatCSV
	if q.Limit == 0 {
		q.Limit = contract.MaxPageSize
	}
	opts := credentials("tsbankctl-history-export")
	if u := os.Getenv("NATS_USER"); u != "" {
		opts = append(opts, nats.CustomInboxPrefix("_INBOX_"+u))
	}
	nc, err := nats.Connect(natsURL(), opts...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", natsURL(), err)
	}
	defer nc.Close()
	for page := 0; ; page++ {
		body, _ := json.Marshal(q)
		msg, err := request(nc, contract.HistorySubject(account, "query"), body)
		if err != nil {
			return fmt.Errorf("history of %s, page %d: %w", account, page+1, err)
		}
		data := msg.Data
		if page > 0 {
			// Every page starts with the same header row, which has no quoted field and so
			// ends at the first line break.
			_, data, _ = bytes.Cut(data, []byte("\r\n"))
		}
		if _, err := out.Write(data); err != nil {
			return err
		}
		if q.Cursor = msg.Header.Get(contract.NextCursorHeader); q.Cursor == "" {
			return nil
		}
	}
}

// request sends one request and turns an error reply into an error.
func request(nc *nats.Conn, subject string, body []byte) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		return nil, err
	}
	if e := client.ReplyError(msg); e != nil {
		return nil, e
	}
	return msg, nil
}
