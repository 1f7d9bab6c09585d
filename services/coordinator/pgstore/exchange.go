package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tsbank/contract/money"
	"tsbank/services/coordinator/transfer"
)

// Rates, quotes and cross-currency transfers are written one at a time, like payments.

const rateColumns = `request_id, fingerprint, base, quote, rate::text, valid_from, set_at, set_by`

func scanRate(row pgx.CollectableRow) (transfer.Rate, error) {
	var r transfer.Rate
	err := row.Scan(&r.RequestID, &r.Fingerprint, &r.Base, &r.Quote, &r.Rate, &r.ValidFrom, &r.SetAt, &r.SetBy)
	return r, err
}

// SetRate inserts r, or returns the rate set already with its request id.
func (s *Store) SetRate(ctx context.Context, r transfer.Rate) (transfer.Rate, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO rates (request_id, fingerprint, base, quote, rate, valid_from, set_by)
		VALUES ($1, $2, $3, $4, $5::numeric, $6, $7) ON CONFLICT (request_id) DO NOTHING`,
		r.RequestID, r.Fingerprint, r.Base, r.Quote, r.Rate, r.ValidFrom, r.SetBy); err != nil {
		return r, fmt.Errorf("set rate %s: %w", r.RequestID, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+rateColumns+` FROM rates WHERE request_id = $1`, r.RequestID)
	if err != nil {
		return r, fmt.Errorf("read rate %s: %w", r.RequestID, err)
	}
	rec, err := pgx.CollectExactlyOneRow(rows, scanRate)
	if err != nil {
		return r, fmt.Errorf("read rate %s: %w", r.RequestID, err)
	}
	if !bytes.Equal(rec.Fingerprint, r.Fingerprint) {
		return rec, fmt.Errorf("%w: rate request id %q", transfer.ErrConflict, r.RequestID)
	}
	return rec, nil
}

// RateInForce is the newest rate of the pair valid at at: the latest valid_from not after it,
// and of two with the same valid_from the one set last (a correction).
func (s *Store) RateInForce(ctx context.Context, base, quote string, at time.Time) (transfer.Rate, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rateColumns+` FROM rates WHERE base = $1 AND quote = $2 AND valid_from <= $3
		ORDER BY valid_from DESC, set_at DESC LIMIT 1`, base, quote, at)
	if err != nil {
		return transfer.Rate{}, fmt.Errorf("read rate %s/%s: %w", base, quote, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRate)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: no rate of %s in %s is valid now; an operator sets one with bank.rates.set", transfer.ErrRateNotFound, base, quote)
	}
	if err != nil {
		return r, fmt.Errorf("read rate %s/%s: %w", base, quote, err)
	}
	return r, nil
}

// Rates lists the rate in force at at of each pair, or with history every rate, filtered by
// base and quote when they are given.
func (s *Store) Rates(ctx context.Context, base, quote string, history bool, at time.Time) ([]transfer.Rate, error) {
	q, args := `SELECT DISTINCT ON (base, quote) `+rateColumns+` FROM rates
		WHERE ($1 = '' OR base = $1) AND ($2 = '' OR quote = $2) AND valid_from <= $3
		ORDER BY base, quote, valid_from DESC, set_at DESC`, []any{base, quote, at}
	if history {
		// Without at: pgx refuses more arguments than the statement has parameters.
		q, args = `SELECT `+rateColumns+` FROM rates WHERE ($1 = '' OR base = $1) AND ($2 = '' OR quote = $2)
			ORDER BY base, quote, valid_from DESC, set_at DESC`, []any{base, quote}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read rates: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRate)
	if err != nil {
		return nil, fmt.Errorf("read rates: %w", err)
	}
	return out, nil
}

const quoteColumns = `quote_id, payer, request_id, fingerprint, payee, from_currency, from_minor, to_currency, to_minor,
	rate::text, rate_id, created_at, expires_at, coalesce(used_by, '')`

func scanQuote(row pgx.CollectableRow) (transfer.Quote, error) {
	var q transfer.Quote
	err := row.Scan(&q.ID, &q.Payer, &q.RequestID, &q.Fingerprint, &q.Payee, &q.FromCurrency, &q.FromMinor, &q.ToCurrency, &q.ToMinor,
		&q.Rate, &q.RateID, &q.CreatedAt, &q.ExpiresAt, &q.UsedBy)
	return q, err
}

func (s *Store) quote(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, suffix string, args ...any) (transfer.Quote, error) {
	rows, err := db.Query(ctx, `SELECT `+quoteColumns+` FROM quotes WHERE `+suffix, args...)
	if err != nil {
		return transfer.Quote{}, fmt.Errorf("read quote: %w", err)
	}
	q, err := pgx.CollectExactlyOneRow(rows, scanQuote)
	if errors.Is(err, pgx.ErrNoRows) {
		return q, transfer.ErrUnknownQuote
	}
	if err != nil {
		return q, fmt.Errorf("read quote: %w", err)
	}
	return q, nil
}

// SaveQuote inserts q, or returns the quote its payer has by that request id.
func (s *Store) SaveQuote(ctx context.Context, q transfer.Quote) (transfer.Quote, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO quotes (quote_id, payer, request_id, fingerprint, payee, from_currency, from_minor,
			to_currency, to_minor, rate, rate_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::numeric, $11, $12, $13) ON CONFLICT (payer, request_id) DO NOTHING`,
		q.ID, q.Payer, q.RequestID, q.Fingerprint, q.Payee, q.FromCurrency, q.FromMinor, q.ToCurrency, q.ToMinor,
		q.Rate, q.RateID, q.CreatedAt, q.ExpiresAt); err != nil {
		return q, fmt.Errorf("save quote %s of %s: %w", q.RequestID, q.Payer, err)
	}
	rec, err := s.QuoteByRequest(ctx, q.Payer, q.RequestID)
	if err == nil && !bytes.Equal(rec.Fingerprint, q.Fingerprint) {
		return rec, fmt.Errorf("%w: quote id %q of %s", transfer.ErrConflict, q.RequestID, q.Payer)
	}
	return rec, err
}

// QuoteByRequest returns the quote payer named requestID.
func (s *Store) QuoteByRequest(ctx context.Context, payer, requestID string) (transfer.Quote, error) {
	return s.quote(ctx, s.pool, `payer = $1 AND request_id = $2`, payer, requestID)
}

// LogExchange logs a cross-currency transfer in one transaction of its own. The quote's row is
// locked FOR UPDATE, so two transfers naming one quote are serialized: the second sees it used.
func (s *Store) LogExchange(ctx context.Context, r transfer.ExchangeRequest, build func(transfer.Quote) (transfer.Payment, error)) (transfer.Payment, bool, error) {
	var id string
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A retry is answered first, whatever became of its quote since.
		var fp []byte
		err := tx.QueryRow(ctx, `SELECT payment_id, fingerprint FROM payments WHERE payer = $1 AND request_id = $2`, r.Payer, r.RequestID).Scan(&id, &fp)
		switch {
		case err == nil && !bytes.Equal(fp, r.Fingerprint):
			return fmt.Errorf("%w: request id %q of %s", transfer.ErrConflict, r.RequestID, r.Payer)
		case err == nil:
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		// The payer's request ids are one namespace, of transfers and exchanges alike.
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM transfers WHERE from_account = $1 AND request_id = $2)`,
			r.Payer, r.RequestID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("%w: request id %q of %s is a transfer's", transfer.ErrConflict, r.RequestID, r.Payer)
		}
		q, err := s.quote(ctx, tx, `payer = $1 AND request_id = $2 FOR UPDATE`, r.Payer, r.QuoteRequestID)
		if errors.Is(err, transfer.ErrUnknownQuote) {
			return fmt.Errorf("%w: %s has no quote %q; ask bank.quote.%s for one", transfer.ErrUnknownQuote, r.Payer, r.QuoteRequestID, r.Payer)
		}
		if err != nil {
			return err
		}
		p, err := build(q)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO payments (payment_id, payer, request_id, fingerprint, description, currency, amount_minor)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, p.ID, p.Payer, p.RequestID, p.Fingerprint, p.Description, p.Currency, p.AmountMinor); err != nil {
			return err
		}
		if err := insertLegs(ctx, tx, p); err != nil {
			return err
		}
		// The row is locked and was unused when build saw it; the condition says so again.
		tag, err := tx.Exec(ctx, `UPDATE quotes SET used_by = $2 WHERE quote_id = $1 AND used_by IS NULL`, q.ID, p.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%w: quote %s", transfer.ErrQuoteUsed, q.RequestID)
		}
		id, created = p.ID, true
		return nil
	})
	if err != nil {
		return transfer.Payment{}, false, fmt.Errorf("log exchange %s of %s: %w", r.RequestID, r.Payer, err)
	}
	p, err := s.GetPayment(ctx, id)
	return p, created, err
}

// ExchangeByRequest returns the cross-currency transfer payer made with requestID.
func (s *Store) ExchangeByRequest(ctx context.Context, payer, requestID string) (transfer.Payment, error) {
	ps, err := s.payments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payer = $1 AND request_id = $2`, payer, requestID)
	return one(ps, err)
}

// exchangeOf is the exchange payment id carried out: its quote's rate and both amounts.
func (s *Store) exchangeOf(ctx context.Context, id string) (*transfer.Exchange, error) {
	q, err := s.quote(ctx, s.pool, `used_by = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("quote of exchange %s: %w", id, err)
	}
	from, err := money.LookupCurrency(q.FromCurrency)
	if err != nil {
		return nil, err
	}
	to, err := money.LookupCurrency(q.ToCurrency)
	if err != nil {
		return nil, err
	}
	return &transfer.Exchange{Quote: q.ID, Rate: q.Rate, FromAmount: money.Format(q.FromMinor, from), FromCurrency: from.Code,
		ToAmount: money.Format(q.ToMinor, to), ToCurrency: to.Code}, nil
}
