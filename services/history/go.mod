module tsbank/services/history

go 1.26
