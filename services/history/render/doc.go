// Package render turns history replies into the two human-facing formats a person asks for
// with `nats req`: an aligned plain-text table for reading in a terminal and RFC 4180 CSV for
// spreadsheets and scripts. (The JSON format is plain encoding/json of the contract types and
// needs nothing from here.)
//
// The two formats want opposite things from the same data. The table is for eyes, so it
// rewrites text that would break its layout (control characters become spaces) and adds a
// title, totals and the next-page cursor. The CSV is for machines, so it keeps every field
// exactly as it is on the wire, including amounts as exact decimal strings, and ParseCSV reads
// it back into the very same rows; the one change is an apostrophe before a text cell that a
// spreadsheet would run as a formula (=, +, -, @, tab, carriage return first), which ParseCSV
// removes again.
package render
