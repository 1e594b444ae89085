package checks

import catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"

// threshold turns raw probe results into reported statuses, as Consul's
// StatusHandler: passing (or warning) needs successBeforePassing
// consecutive successes; failures turn the check warning after
// failuresBeforeWarning and critical after failuresBeforeCritical
// consecutive ones. The counters start at their thresholds, so the first
// result is reported at once.
type threshold struct {
	successBefore, warningBefore, criticalBefore int
	successes, failures                          int
}

func newThreshold(successBeforePassing, failuresBeforeWarning, failuresBeforeCritical int) *threshold {
	t := &threshold{
		successBefore:  max(successBeforePassing, 1),
		criticalBefore: max(failuresBeforeCritical, 1),
	}
	t.warningBefore = t.criticalBefore
	if failuresBeforeWarning > 0 {
		t.warningBefore = failuresBeforeWarning
	}
	t.successes, t.failures = t.successBefore, t.criticalBefore
	return t
}

// next returns the status to report for a result, and false when nothing
// should be reported yet.
func (t *threshold) next(status catalogv1.HealthStatus) (catalogv1.HealthStatus, bool) {
	if status == Passing || status == Warning {
		t.successes++
		t.failures = 0
		return status, t.successes >= t.successBefore
	}
	t.failures++
	t.successes = 0
	switch {
	case t.failures >= t.criticalBefore:
		return Critical, true
	case t.failures >= t.warningBefore:
		return Warning, true
	}
	return 0, false
}
