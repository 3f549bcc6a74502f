// How many relationships of each type the graph holds.
MATCH ()-[r]->()
RETURN type(r) AS type, count(*) AS n
ORDER BY type
