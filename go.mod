module netflow

go 1.22

require (
	github.com/emicklei/dot v1.6.2
	github.com/expr-lang/expr v1.17.8
)

require (
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
