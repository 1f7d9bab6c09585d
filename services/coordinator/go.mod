module tsbank/services/coordinator

go 1.26
