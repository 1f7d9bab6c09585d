module tsbank

go 1.26
