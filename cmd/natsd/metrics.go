package main

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

// serverCollector exposes the embedded server's monitoring figures (what /varz and /jsz show) in
// the Prometheus format, read in-process at each scrape. nats-server has no Prometheus endpoint of
// its own, and prometheus-nats-exporter, which would poll the monitoring port, cannot be had as a
// module here (ADR 0038). The names and the server_id label are the exporter's, so that its
// dashboards and alerts find the same series; only the figures the bank's dashboards use are
// exposed, and the JetStream series carry fewer labels than the exporter's.
type serverCollector struct {
	ns *server.Server

	varz []varzGauge

	streams, consumers, messages, bytes *prometheus.Desc
	streamMessages, streamBytes         *prometheus.Desc
	consumerPending, consumerAckPending *prometheus.Desc
}

// varzGauge is one figure of /varz, named gnatsd_varz_<its JSON name> as the exporter names it.
type varzGauge struct {
	desc  *prometheus.Desc
	value func(v *server.Varz) float64
}

func newServerCollector(ns *server.Server) *serverCollector {
	serverLabels := []string{"server_id", "server_name"}
	streamLabels := []string{"server_id", "server_name", "account", "stream_name"}
	consumerLabels := []string{"server_id", "server_name", "account", "stream_name", "consumer_name"}
	varz := func(name, help string, value func(v *server.Varz) float64) varzGauge {
		return varzGauge{prometheus.NewDesc("gnatsd_varz_"+name, help, []string{"server_id"}, nil), value}
	}
	return &serverCollector{
		ns: ns,
		varz: []varzGauge{
			varz("connections", "Clients connected now.", func(v *server.Varz) float64 { return float64(v.Connections) }),
			varz("total_connections", "Clients connected since the server started.", func(v *server.Varz) float64 { return float64(v.TotalConnections) }),
			varz("subscriptions", "Subscriptions now.", func(v *server.Varz) float64 { return float64(v.Subscriptions) }),
			varz("slow_consumers", "Clients disconnected for being slow consumers since the server started.", func(v *server.Varz) float64 { return float64(v.SlowConsumers) }),
			varz("in_msgs", "Messages received since the server started.", func(v *server.Varz) float64 { return float64(v.InMsgs) }),
			varz("out_msgs", "Messages sent since the server started.", func(v *server.Varz) float64 { return float64(v.OutMsgs) }),
			varz("in_bytes", "Bytes received since the server started.", func(v *server.Varz) float64 { return float64(v.InBytes) }),
			varz("out_bytes", "Bytes sent since the server started.", func(v *server.Varz) float64 { return float64(v.OutBytes) }),
			varz("mem", "Resident memory of the server, in bytes.", func(v *server.Varz) float64 { return float64(v.Mem) }),
			varz("cpu", "CPU use of the server, in percent of one core.", func(v *server.Varz) float64 { return v.CPU }),
			varz("routes", "Routes to other servers of the cluster.", func(v *server.Varz) float64 { return float64(v.Routes) }),
		},
		streams:            prometheus.NewDesc("jetstream_server_total_streams", "Streams on this server.", serverLabels, nil),
		consumers:          prometheus.NewDesc("jetstream_server_total_consumers", "Consumers on this server.", serverLabels, nil),
		messages:           prometheus.NewDesc("jetstream_server_total_messages", "Messages stored on this server.", serverLabels, nil),
		bytes:              prometheus.NewDesc("jetstream_server_total_message_bytes", "Bytes of messages stored on this server.", serverLabels, nil),
		streamMessages:     prometheus.NewDesc("jetstream_stream_total_messages", "Messages in a stream.", streamLabels, nil),
		streamBytes:        prometheus.NewDesc("jetstream_stream_total_bytes", "Bytes of messages in a stream.", streamLabels, nil),
		consumerPending:    prometheus.NewDesc("jetstream_consumer_num_pending", "Messages of the stream not yet delivered to a consumer.", consumerLabels, nil),
		consumerAckPending: prometheus.NewDesc("jetstream_consumer_num_ack_pending", "Messages delivered to a consumer and not yet acknowledged.", consumerLabels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.varz {
		ch <- g.desc
	}
	for _, d := range []*prometheus.Desc{c.streams, c.consumers, c.messages, c.bytes,
		c.streamMessages, c.streamBytes, c.consumerPending, c.consumerAckPending} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A figure the server cannot give (JetStream off, or the
// server shutting down) is left out of the scrape rather than failing it.
func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	v, err := c.ns.Varz(nil)
	if err != nil {
		return
	}
	for _, g := range c.varz {
		gauge(g.desc, g.value(v), v.ID)
	}
	js, err := c.ns.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Consumer: true})
	if err != nil || js.Disabled {
		return
	}
	gauge(c.streams, float64(js.Streams), v.ID, v.Name)
	gauge(c.consumers, float64(js.Consumers), v.ID, v.Name)
	gauge(c.messages, float64(js.Messages), v.ID, v.Name)
	gauge(c.bytes, float64(js.Bytes), v.ID, v.Name)
	for _, acc := range js.AccountDetails {
		for _, st := range acc.Streams {
			gauge(c.streamMessages, float64(st.State.Msgs), v.ID, v.Name, acc.Name, st.Name)
			gauge(c.streamBytes, float64(st.State.Bytes), v.ID, v.Name, acc.Name, st.Name)
			for _, con := range st.Consumer {
				gauge(c.consumerPending, float64(con.NumPending), v.ID, v.Name, acc.Name, st.Name, con.Name)
				gauge(c.consumerAckPending, float64(con.NumAckPending), v.ID, v.Name, acc.Name, st.Name, con.Name)
			}
		}
	}
}
