// True when the condition holds for any lane of the subgroup (uniform across it).
fn any_in_subgroup(b: bool) -> bool {
    return subgroupAny(b);
}
