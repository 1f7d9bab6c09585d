module tsbank/services/account

go 1.26
