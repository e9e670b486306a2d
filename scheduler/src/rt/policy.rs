//! The calling thread's scheduling policy, read and set with the raw
//! calls (nix has no wrapper for them).

/// The calling thread's policy (with its SCHED_RESET_ON_FORK bit) and priority.
pub(super) fn get_policy() -> Result<(libc::c_int, libc::c_int), nix::Error> {
    // SAFETY: pid 0 is the calling thread; no pointers are passed.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 {
        return Err(nix::Error::last());
    }
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, writable sched_param for the call.
    if unsafe { libc::sched_getparam(0, &mut param) } < 0 {
        return Err(nix::Error::last());
    }
    Ok((policy, param.sched_priority))
}

/// Set the calling thread's policy and priority.
pub(super) fn set_policy(policy: libc::c_int, priority: libc::c_int) -> Result<(), nix::Error> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param
    // that outlives the call.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}
