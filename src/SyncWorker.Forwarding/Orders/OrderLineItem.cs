namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// One line of an order (<c>line_items[]</c> of the order document), from Stripe's Checkout Session line items.
/// Amounts are in the currency's minor unit.
/// </summary>
/// <param name="Id"><c>id</c>: the line item id (<c>li_…</c>).</param>
/// <param name="Description"><c>description</c>: usually the product name.</param>
/// <param name="Quantity"><c>quantity</c>.</param>
/// <param name="PriceId"><c>price_id</c>: <c>price.id</c>.</param>
/// <param name="ProductId"><c>product_id</c>: <c>price.product</c> (the id, or the id of an expanded product).</param>
/// <param name="UnitAmount"><c>unit_amount</c>: <c>price.unit_amount</c>; null for tiered or decimal-only prices.</param>
/// <param name="AmountSubtotal"><c>amount_subtotal</c>: before discounts and taxes.</param>
/// <param name="AmountDiscount"><c>amount_discount</c>.</param>
/// <param name="AmountTax"><c>amount_tax</c>.</param>
/// <param name="AmountTotal"><c>amount_total</c>: after discounts and taxes.</param>
/// <param name="Currency"><c>currency</c>.</param>
public sealed record OrderLineItem(
    string Id,
    string? Description,
    long? Quantity,
    string? PriceId,
    string? ProductId,
    long? UnitAmount,
    long AmountSubtotal,
    long AmountDiscount,
    long AmountTax,
    long AmountTotal,
    string? Currency);
