package gates

import (
	"strconv"
	"strings"
	"time"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var weekdays = map[v1.Weekday]time.Weekday{
	"Sun": time.Sunday, "Mon": time.Monday, "Tue": time.Tuesday, "Wed": time.Wednesday,
	"Thu": time.Thursday, "Fri": time.Friday, "Sat": time.Saturday,
}

// opening returns when window w opens on the local calendar day of day
// in its time zone, and whether it opens on that day at all. A start time
// that does not exist on that day (the hour skipped when daylight saving
// begins) is moved forward by the gap, as clocks are; the window lasts its
// duration in real time from there.
func opening(w v1.MaintenanceWindow, loc *time.Location, day time.Time) (time.Time, bool) {
	d := day.In(loc)
	match := false
	for _, wd := range w.Days {
		if weekdays[wd] == d.Weekday() {
			match = true
		}
	}
	if !match {
		return time.Time{}, false
	}
	hh, mm := parseClock(w.Start)
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, loc), true
}

func parseClock(s string) (int, int) {
	h, m, _ := strings.Cut(s, ":")
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	return hh, mm
}

// OpenWindow returns the window open at now and when it closes.
func OpenWindow(windows []v1.MaintenanceWindow, now time.Time) (v1.MaintenanceWindow, time.Time, bool) {
	for _, w := range windows {
		loc, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			continue
		}
		local := now.In(loc)
		// A window of up to 24h that covers now opened today or yesterday.
		for _, back := range []int{0, -1} {
			day := time.Date(local.Year(), local.Month(), local.Day()+back, 12, 0, 0, 0, loc)
			start, ok := opening(w, loc, day)
			if !ok {
				continue
			}
			end := start.Add(w.Duration.Duration)
			if !now.Before(start) && now.Before(end) {
				return w, end, true
			}
		}
	}
	return v1.MaintenanceWindow{}, time.Time{}, false
}

// NextWindow returns when the next window opens after now.
func NextWindow(windows []v1.MaintenanceWindow, now time.Time) (time.Time, v1.MaintenanceWindow, bool) {
	var best time.Time
	var bestW v1.MaintenanceWindow
	for _, w := range windows {
		loc, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			continue
		}
		local := now.In(loc)
		for ahead := 0; ahead <= 7; ahead++ {
			day := time.Date(local.Year(), local.Month(), local.Day()+ahead, 12, 0, 0, 0, loc)
			start, ok := opening(w, loc, day)
			if !ok || !start.After(now) {
				continue
			}
			if best.IsZero() || start.Before(best) {
				best, bestW = start, w
			}
			break
		}
	}
	return best, bestW, !best.IsZero()
}
