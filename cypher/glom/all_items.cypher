// Every item, so items without reviews still get an embedding from their SupKG links.
MATCH (i:Item)
RETURN i.asin AS asin
ORDER BY asin
