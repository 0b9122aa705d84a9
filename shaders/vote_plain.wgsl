// Without subgroups each thread decides for itself.
fn any_in_subgroup(b: bool) -> bool {
    return b;
}
