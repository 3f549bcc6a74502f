// Streaming §3.4: the items a batch pushed past MOKG_SIM_MAX_ITEM_RATERS ($max_raters), with every rater.
// Such an item leaves every co-rated set, so the similarity of every pair of its raters changes, not only
// the batch's users': the caller recomputes them all. $items: {asin, new: the batch's distinct raters of it},
// for the batch's items now past the bound; one whose raters without the batch's were within it crossed.
UNWIND $items AS item
MATCH (:Item {asin: item.asin})<-[:REVIEWED]-(w:User)
WITH item, collect(DISTINCT w.user_id) AS raters
WHERE size(raters) > $max_raters AND size(raters) - item.new <= $max_raters
RETURN item.asin AS asin, raters
