module netflow

go 1.22

require github.com/emicklei/dot v1.6.2
