package service

import (
	"encoding/json"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
)

// Respond answers req with reply as JSON, or with e in the micro error headers and, so that
// `nats req` shows it, as the JSON body {"error":{...}}.
func Respond(req micro.Request, reply any, e *contract.Error) {
	if e != nil {
		body, _ := json.Marshal(contract.ErrorBody{Error: e})
		_ = req.Error(string(e.Code), e.Message, body)
		return
	}
	_ = req.RespondJSON(reply)
}
