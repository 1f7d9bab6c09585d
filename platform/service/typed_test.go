package service_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/platform/service"
)

// fakeRequest is a micro.Request that keeps its answer.
type fakeRequest struct {
	data      []byte
	reply     []byte
	errorCode string
}

func (r *fakeRequest) Respond(data []byte, _ ...micro.RespondOpt) error { r.reply = data; return nil }
func (r *fakeRequest) RespondJSON(v any, _ ...micro.RespondOpt) error {
	r.reply, _ = json.Marshal(v)
	return nil
}
func (r *fakeRequest) Error(code, _ string, data []byte, _ ...micro.RespondOpt) error {
	r.errorCode, r.reply = code, data
	return nil
}
func (r *fakeRequest) Data() []byte           { return r.data }
func (r *fakeRequest) Headers() micro.Headers { return nil }
func (r *fakeRequest) Subject() string        { return "bank.test" }
func (r *fakeRequest) Reply() string          { return "_INBOX.x" }

func TestATypedHandlerDecodesBoundsAndAnswers(t *testing.T) {
	type greet struct {
		Name string `json:"name"`
	}
	var deadline time.Duration
	h := service.Typed(time.Second, func(ctx context.Context, _ micro.Request, g greet) (any, *contract.Error) {
		if d, ok := ctx.Deadline(); ok {
			deadline = time.Until(d)
		}
		if g.Name == "" {
			return nil, contract.Errorf(contract.CodeBadRequest, "name is missing")
		}
		return map[string]string{"hello": g.Name}, nil
	})
	for _, c := range []struct {
		body  string
		code  contract.Code
		reply string
	}{
		{`{"name":"alice"}`, "", `{"hello":"alice"}`},
		{`{"name":"alice","extra":1}`, contract.CodeBadRequest, ""},
		{`{"name":"a","name":"b"}`, contract.CodeBadRequest, ""},
		{`not json`, contract.CodeBadRequest, ""},
		{``, contract.CodeBadRequest, ""}, // the zero value, which the handler refuses
	} {
		r := &fakeRequest{data: []byte(c.body)}
		h(r)
		if r.errorCode != string(c.code) || (c.reply != "" && string(r.reply) != c.reply) {
			t.Errorf("%q: code %q reply %s; want code %q reply %s", c.body, r.errorCode, r.reply, c.code, c.reply)
		}
	}
	if deadline <= 0 || deadline > time.Second {
		t.Fatalf("the handler's context ends in %s, want within the 1s timeout", deadline)
	}
}
