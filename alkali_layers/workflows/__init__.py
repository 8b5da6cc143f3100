"""Multi-structure procedures built on the calculators: sequential pore filling,
GPAW convergence scans, the validation against experiment and the factor-by-factor
diagnosis of a formation energy.  Each checkpoints its work and resumes."""
