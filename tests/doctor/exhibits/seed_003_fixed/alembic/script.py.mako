# template
