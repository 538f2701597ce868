#!/usr/bin/env bash
# The full Fashion-MNIST accuracy run of the example CNN through the REST
# API (bench/api_accuracy.sh): examples/fmnist-cnn.json (two blocks of conv
# + batchnorm + relu + max pooling, dense 128, dropout, dense 10) trained
# with the definition's training object (Adam lr 0.001, batch 64, 10 epochs,
# seed 42) on the 60,000 training images, with the 10,000 test images as
# the job's validation data and early stopping off.  Prints every epoch,
# the test accuracy, the times and the daemon's peak RSS; exits 1 when the
# accuracy is below 0.91 (the issue's bound; published: 0.916 for two conv
# + pooling, 0.934 with batchnorm).
#
#   TRAIND=./traind        the program
#   THREADS=N              compute threads of the job (default: the daemon's, all cores)
#   FMNIST_DIR=...         where the IDX files are
#   MAX_MINUTES=60         give up (cancel the job, exit 1) after this long
#
# Needs curl and jq (make deps installs both).
exec "$(dirname "$0")/api_accuracy.sh" examples/fmnist-cnn.json 0.91
