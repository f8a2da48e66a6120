/* Push constants of the optimiser steps (push.h explains the scheme). */
#ifndef EV_PUSH_OPTIM_H
#define EV_PUSH_OPTIM_H
#include "push/push.h"

/* sgd, sgd_q */
#define EV_PUSH_sgd(F) F(uint, n) F(float, lr) F(float, momentum) F(float, wd)
EV_PUSH_STRUCT(sgd)

/* adam, adam_q: step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t) */
#define EV_PUSH_adam(F)                                                                          \
  F(uint, n) F(float, step_size) F(float, bc2_sqrt) F(float, beta1) F(float, one_minus_beta1)    \
  F(float, beta2) F(float, one_minus_beta2) F(float, eps) F(float, wd)
EV_PUSH_STRUCT(adam)
#endif
